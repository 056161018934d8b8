#include "config.h"

/* main.c — raftfsd: command line, the sd-event loop, signals and the
 * sd_notify protocol around one Node.
 *
 * The daemon never forks: systemd (Type=notify) or another supervisor keeps
 * it in the foreground and reads its stderr; -f is accepted for familiarity
 * and changes nothing. Signals are blocked before anything can start a
 * thread and are then delivered through sd-event. The watchdog is pinged by
 * our own timer rather than by sd_event_set_watchdog(), because a ping must
 * prove progress (node_is_healthy: loop turning AND the storage thread
 * answering), not only that the loop turns.
 *
 * Shutdown: the first SIGTERM/SIGINT sends STOPPING=1 and asks the node to
 * stop gracefully (leadership handed to a caught-up peer, mount removed);
 * a second one, or the stop deadline, ends the loop at once. */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "daemon/conf.h"
#include "daemon/control.h"
#include "daemon/fuse-guard.h"
#include "daemon/host.h"
#include "daemon/metrics.h"
#include "daemon/mount.h"
#include "daemon/node.h"
#include "daemon/restore.h"
#include "lib/log.h"
#include "lib/macro.h"

#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)

typedef struct Args {
        const char *config_path;
        bool verbose;
        bool test_config;
        bool dump_config;
        bool clean_mount;
        const char *restore;
} Args;

typedef struct Daemon {
        sd_event *event;
        Conf *conf;
        Metrics *metrics;
        Node *node;
        Mount *mount;
        ControlServer *control;
        sd_event_source *watchdog_timer;
        sd_event_source *status_timer;
        sd_event_source *stop_timer;
        uint64_t watchdog_usec;
        bool ready_sent;
        bool stopping;
        int exit_code;
        char last_status[256];
} Daemon;

static void help(void) {
        printf("Usage: raftfsd [OPTIONS]\n"
               "\n"
               "The raftfs node daemon: a member of a Raft-replicated configuration and lock\n"
               "tree, mounted through FUSE.\n"
               "\n"
               "  -c, --config FILE   Read the configuration from FILE (default %s)\n"
               "  -f, --foreground    Stay in the foreground and log to stderr. This is the\n"
               "                      only mode: raftfsd never daemonizes (run it under\n"
               "                      systemd or another supervisor); accepted for habit\n"
               "  -v, --verbose       Log debug messages (overrides log_level)\n"
               "  -t, --test-config   Check the configuration file, report errors and exit\n"
               "      --dump-config   Print the effective configuration (defaults included)\n"
               "                      and exit\n"
               "      --clean-mount   Abort and detach every stale mount (its daemon is gone)\n"
               "                      at the configured mountpoint and exit; refuses while\n"
               "                      a daemon of this configuration runs (for\n"
               "                      ExecStartPre= and ExecStopPost=)\n"
               "      --restore SNAPSHOT  Seed the empty data_dir from a file made by\n"
               "                      'raftfsctl snapshot save' (a new cluster of the\n"
               "                      initial_members) and exit\n"
               "  -h, --help          Show this help and exit\n"
               "      --version       Show the version and exit\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop gracefully (a second one stops at once),\n"
               "SIGHUP reloads the TLS certificates.\n"
               "Exit status: 0 after a clean stop, 1 on errors, 2 on usage errors.\n",
               CONF_DEFAULT_PATH);
}

/* Returns 0 to run, 1 to exit successfully (help/version), or -EINVAL. */
static int parse_args(int argc, char **argv, Args *args) {
        enum { ARG_VERSION = 0x100, ARG_DUMP_CONFIG, ARG_CLEAN_MOUNT, ARG_RESTORE };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "foreground", no_argument, NULL, 'f' },
                { "verbose", no_argument, NULL, 'v' },
                { "test-config", no_argument, NULL, 't' },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "clean-mount", no_argument, NULL, ARG_CLEAN_MOUNT },
                { "restore", required_argument, NULL, ARG_RESTORE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        *args = (Args) { .config_path = CONF_DEFAULT_PATH };
        while ((c = getopt_long(argc, argv, "c:fvth", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        args->config_path = optarg;
                        break;
                case 'f':
                        break;
                case 'v':
                        args->verbose = true;
                        break;
                case 't':
                        args->test_config = true;
                        break;
                case ARG_DUMP_CONFIG:
                        args->dump_config = true;
                        break;
                case ARG_CLEAN_MOUNT:
                        args->clean_mount = true;
                        break;
                case ARG_RESTORE:
                        args->restore = optarg;
                        break;
                case 'h':
                        help();
                        return 1;
                case ARG_VERSION:
                        printf("raftfsd %s\n", PACKAGE_VERSION);
                        return 1;
                default:        /* getopt printed the problem */
                        fprintf(stderr, "Try 'raftfsd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "raftfsd: unexpected argument '%s'\nTry 'raftfsd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* ---- sd_notify --------------------------------------------------------- */

static void update_status(Daemon *d, bool force) {
        char status[256];
        CtlStatus s;

        node_get_status(d->node, &s);
        snprintf(status, sizeof(status), "STATUS=%s%s, term %llu, leader %s, commit %llu%s",
                 d->stopping ? "stopping; " : "", ctl_role_to_string(s.role),
                 (unsigned long long) s.term, s.leader[0] ? s.leader : "unknown",
                 (unsigned long long) s.commit, s.quorum ? "" : ", no quorum");
        if (!force && strcmp(status, d->last_status) == 0)
                return;
        snprintf(d->last_status, sizeof(d->last_status), "%s", status);
        (void) sd_notify(false, status);
}

static void node_event(Node *n, NodeEvent event, void *userdata) {
        Daemon *d = userdata;

        switch (event) {
        case NODE_EVENT_READY:
                /* READY=1 means mounted and caught up (DESIGN §3). */
                if (d->conf->mount && !d->mount && !d->stopping &&
                    mount_start(d->event, d->node, d->conf, &d->mount) < 0) {
                        d->exit_code = EXIT_FAILURE;
                        (void) sd_event_exit(d->event, EXIT_FAILURE);
                        break;
                }
                if (!d->ready_sent) {
                        d->ready_sent = true;
                        log_info("Node is caught up with the cluster, ready.");
                        (void) sd_notify(false, "READY=1");
                }
                update_status(d, true);
                break;
        case NODE_EVENT_STATE:
                update_status(d, false);
                break;
        case NODE_EVENT_FATAL:
                log_error("Node reported a fatal error, exiting.");
                d->exit_code = EXIT_FAILURE;
                (void) sd_event_exit(d->event, EXIT_FAILURE);
                break;
        }
}

static int status_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        update_status(d, false);
        (void) sd_event_source_set_time(s, usec + STATUS_INTERVAL_USEC);
        return 0;
}

static int watchdog_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        const char *reason = NULL;

        if (node_is_healthy(d->node, &reason))
                (void) sd_notify(false, "WATCHDOG=1");
        else
                log_warning("Not pinging the watchdog: %s.", reason ? reason : "no progress");
        (void) sd_event_source_set_time(s, usec + d->watchdog_usec / 2);
        return 0;
}

static int setup_watchdog(Daemon *d) {
        uint64_t now;
        int r;

        r = sd_watchdog_enabled(false, &d->watchdog_usec);
        if (r <= 0)
                return r;       /* no watchdog requested (or a bad variable: ignore) */
        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(d->event, &d->watchdog_timer, CLOCK_MONOTONIC, now + d->watchdog_usec / 2,
                              0, watchdog_handler, d);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the watchdog timer: %m");
        (void) sd_event_source_set_enabled(d->watchdog_timer, SD_EVENT_ON);
        log_debug("Watchdog every %llu ms.", (unsigned long long) (d->watchdog_usec / 2 / USEC_PER_MSEC));
        return 0;
}

/* ---- signals ----------------------------------------------------------- */

static void node_stopped(Node *n, void *userdata) {
        Daemon *d = userdata;

        /* Leadership has moved on: now unmount, answering parked requests. */
        d->mount = mount_stop(d->mount);
        log_info("Stopped.");
        (void) sd_event_exit(d->event, d->exit_code);
}

static int stop_deadline_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        log_warning("Graceful stop did not finish in time, exiting anyway.");
        return sd_event_exit(d->event, d->exit_code);
}

static int sigterm_handler(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        uint64_t now, deadline;

        if (d->stopping) {
                log_notice("Second %s, stopping at once.", strsignal((int) si->ssi_signo));
                return sd_event_exit(d->event, d->exit_code);
        }
        d->stopping = true;
        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        update_status(d, true);

        /* Time for a leadership transfer and an unmount; systemd's
         * TimeoutStopSec is the outer bound. */
        deadline = 2 * d->conf->election_timeout_ms * USEC_PER_MSEC + 5 * USEC_PER_SEC;
        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(d->event, &d->stop_timer, CLOCK_MONOTONIC, now + deadline, 0,
                              stop_deadline_handler, d) < 0)
                log_warning("Cannot arm the stop deadline, ignoring.");
        node_stop(d->node, node_stopped, d);
        return 0;
}

static int sighup_handler(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        int r;

        log_info("Received SIGHUP, reloading certificates.");
        (void) sd_notify(false, "RELOADING=1");
        r = node_reload(d->node);
        if (r < 0)
                log_warning_errno(r, "Reload failed, keeping the current certificates: %m");
        (void) sd_notify(false, "READY=1");
        return 0;
}

static int setup_signals(Daemon *d) {
        sigset_t mask;
        int r;

        /* Blocked before any thread starts, so that every thread inherits
         * the mask and the signals reach only the loop's signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_add_signal(d->event, NULL, SIGTERM, sigterm_handler, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, sigterm_handler, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGHUP, sighup_handler, d);
        if (r < 0)
                return log_error_errno(r, "Failed to add signal sources: %m");
        return 0;
}

/* ---- setup and teardown ------------------------------------------------- */

static void daemon_done(Daemon *d) {
        d->control = control_server_free(d->control);
        d->mount = mount_stop(d->mount);
        d->node = node_free(d->node);
        sd_event_source_disable_unref(d->watchdog_timer);
        sd_event_source_disable_unref(d->status_timer);
        sd_event_source_disable_unref(d->stop_timer);
        d->metrics = metrics_free(d->metrics);
        d->conf = conf_free(d->conf);
        d->event = sd_event_unref(d->event);
}

static int load_config(const Args *args, Conf **ret) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = conf_load(args->config_path, ret, &error);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "Failed to read '%s': %m", args->config_path);
                return r;
        }
        return 0;
}

static int daemon_setup(Daemon *d) {
        uint64_t now;
        int r;

        if (d->conf->mount) {
                (void) host_check_fuse_timeouts();
                /* Before anything stat()s the mountpoint: a dead mount is
                 * found from mountinfo and detached, never mounted over. */
                r = fuse_guard_clean_stale(d->conf->mountpoint, d->conf->data_dir);
                if (r < 0)
                        return r;
                r = host_prepare_mountpoint(d->conf->mountpoint);
                if (r < 0)
                        return r;
        }
        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create event loop: %m");
        r = setup_signals(d);
        if (r < 0)
                return r;
        d->metrics = metrics_new();
        if (!d->metrics)
                return log_error_errno(-ENOMEM, "Out of memory.");
        r = node_new(d->event, d->conf, d->metrics, &d->node);
        if (r < 0)
                return log_error_errno(r, "Failed to create node: %m");
        node_set_event_handler(d->node, node_event, d);
        r = control_server_new(d->event, d->node, d->metrics, d->conf->control_socket, &d->control);
        if (r < 0)
                return r;
        r = setup_watchdog(d);
        if (r < 0)
                return r;
        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(d->event, &d->status_timer, CLOCK_MONOTONIC, now + STATUS_INTERVAL_USEC, 0,
                              status_timer_handler, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->status_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the status timer: %m");
        return node_start(d->node);
}

int main(int argc, char **argv) {
        Daemon d = { .exit_code = EXIT_SUCCESS };
        Args args;
        int r;

        r = parse_args(argc, argv, &args);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        if (args.verbose)
                log_set_max_level(LOG_DEBUG);

        r = load_config(&args, &d.conf);
        if (r < 0)
                return EXIT_FAILURE;
        if (args.test_config) {
                printf("%s: configuration OK\n", d.conf->path);
                conf_free(d.conf);
                return EXIT_SUCCESS;
        }
        if (args.dump_config) {
                conf_dump(d.conf, stdout);
                conf_free(d.conf);
                return EXIT_SUCCESS;
        }
        if (args.restore) {
                r = restore_data_dir(d.conf, args.restore);
                conf_free(d.conf);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (args.clean_mount) {
                r = 0;
                if (d.conf->mount)
                        r = fuse_guard_clean_stale(d.conf->mountpoint, d.conf->data_dir) ?:
                            host_prepare_mountpoint(d.conf->mountpoint);
                conf_free(d.conf);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (!args.verbose)
                log_set_max_level(log_level_from_string(d.conf->log_level));

        log_info("raftfsd %s starting as node %s (config %s).", PACKAGE_VERSION, d.conf->node_name,
                 d.conf->path);
        r = daemon_setup(&d);
        if (r >= 0) {
                r = sd_event_loop(d.event);
                if (r < 0)
                        log_error_errno(r, "Event loop failed: %m");
        }
        if (r < 0) {
                (void) sd_notifyf(false, "STATUS=Failed: %s\nERRNO=%d", strerror(-r), -r);
                d.exit_code = EXIT_FAILURE;
        } else
                d.exit_code = r;
        daemon_done(&d);
        return d.exit_code;
}
