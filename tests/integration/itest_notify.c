/* itest_notify.c -- a stand-in for systemd's notification socket, for tests/integration/daemon.sh.
 *
 *   itest_notify PATH SECONDS
 *
 * Binds an AF_UNIX datagram socket at PATH (what systemd passes to a
 * Type=notify service in NOTIFY_SOCKET), prints every datagram it receives
 * as one line "notify: <text with newlines as spaces>", and exits 0 after
 * SECONDS, or right after a datagram containing STOPPING=1. Exit 1 when the
 * socket cannot be made. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: itest_notify PATH SECONDS\n");
        return 1;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof a.sun_path) {
        fprintf(stderr, "itest_notify: path too long\n");
        return 1;
    }
    strcpy(a.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    unlink(argv[1]);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("itest_notify: socket");
        return 1;
    }
    printf("notify: listening\n");
    fflush(stdout);
    time_t end = time(NULL) + atoi(argv[2]);
    while (time(NULL) < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n')
                buf[i] = ' ';
        printf("notify: %s\n", buf);
        fflush(stdout);
        if (strstr(buf, "STOPPING=1"))
            break;
    }
    close(fd);
    unlink(argv[1]);
    return 0;
}
