/* ctl.h — pieces shared by raftfsctl's command files.
 *
 * Commands return the process exit status: EXIT_OK (0), EXIT_ERROR (1: the
 * command failed, the daemon is unreachable or refused), EXIT_USAGE (2:
 * command-line misuse). `raftfsctl lock` returns its child's status. */
#pragma once

#include <stdbool.h>

#include "ctl/client.h"
#include "lib/macro.h"

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

typedef struct Ctl {
        const char *config_path;        /* -c, or NULL */
        const char *socket_path;        /* -s, or resolved by ctl_connect() */
        struct Conf *conf;              /* loaded by ctl_connect() when needed */
        CtlClient *client;
} Ctl;

/* Prints "raftfsctl: " + message to stderr; returns EXIT_ERROR. */
int ctl_fail(const char *format, ...) _printf_(1, 2);
/* Same with EXIT_USAGE and a hint to --help. */
int ctl_usage(const char *format, ...) _printf_(1, 2);

/* Connects ctl->client unless connected, finding the socket first (-s,
 * else control_socket of -c FILE, else of the default config when it
 * exists, else the default socket); prints a clear message on failure.
 * 0 or EXIT_ERROR. */
int ctl_connect(Ctl *ctl);

/* Prints the daemon's CTL_RESP_ERROR (or an unexpected frame) for `what`;
 * returns EXIT_ERROR. */
int ctl_fail_frame(const char *what, const CtlFrame *f);
/* Prints a transport error for `what`; returns EXIT_ERROR. */
int ctl_fail_io(Ctl *ctl, const char *what, int r);

int ctl_cmd_lock(Ctl *ctl, int argc, char **argv);
int ctl_cmd_cert(int argc, char **argv);
