/* reload.h -- SIGHUP: re-read the config file and apply what can change while running. */
#ifndef XCHG_DATAPLANE_RELOAD_H
#define XCHG_DATAPLANE_RELOAD_H

#include "config/config.h"
#include "dataplane/commands.h"

/* Loads cfg->source again. A refused file changes nothing (an error is
 * logged, xchgd keeps running on the old config). Otherwise applies, in
 * place in *cfg: log.level and log.destination (a log file is reopened even
 * when unchanged, for rotation), risk.throttle_msgs_per_sec (every worker,
 * through its request ring). Every other key that differs is logged as a
 * warning naming its section: it takes effect at the next start. Called on
 * the control lcore. Returns 0 when the file was applied, -1 when refused or
 * a worker did not answer. */
int rldReload(cmdDaemon *d, cfgConfig *cfg);

#endif
