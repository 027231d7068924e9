/* gwsnap.c -- a segment's state as checkpoint records and back (FIRST VERSION: stub, not done). */
#include <stdio.h>

#include "dataplane/gwsnap.h"

static __thread char gwSnapMsg[256];

const char *gwSnapError(void)
{
    return gwSnapMsg;
}

int gwSnapshot(const gwGateway *gw, const ckptSink *sink)
{
    (void)gw;
    (void)sink;
    snprintf(gwSnapMsg, sizeof gwSnapMsg, "gwSnapshot: not implemented yet");
    return -1;
}

int gwRestore(gwGateway *gw, const ckptSource *src)
{
    (void)gw;
    (void)src;
    snprintf(gwSnapMsg, sizeof gwSnapMsg, "gwRestore: not implemented yet");
    return -1;
}
