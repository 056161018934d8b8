#include "config.h"

/* chaos-check — runs one checker over the history files of a chaos run.
 *
 *     chaos-check register|meta|set|lock [--max-states N] FILE...
 *
 * Exit status: 0 valid, 1 invalid (explained on stdout), 2 usage or
 * unreadable history, 3 unknown (the linearizability search hit its bound). */

#include "tests/chaos/history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
        History h = {};
        size_t max_states = 0;
        int i = 2;

        if (argc < 3) {
                fprintf(stderr, "usage: chaos-check register|meta|set|lock [--max-states N] FILE...\n");
                return 2;
        }
        if (i + 1 < argc && strcmp(argv[i], "--max-states") == 0) {
                max_states = strtoull(argv[i + 1], NULL, 10);
                i += 2;
        }
        for (; i < argc; i++) {
                FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "re");
                if (!f) {
                        fprintf(stderr, "chaos-check: %s: %s\n", argv[i], strerror(errno));
                        history_done(&h);
                        return 2;
                }
                int r = history_load(&h, f, argv[i]);
                if (f != stdin)
                        fclose(f);
                if (r < 0) {
                        history_done(&h);
                        return 2;
                }
        }
        CheckResult res;
        if (strcmp(argv[1], "register") == 0)
                res = check_register(&h, max_states, stdout);
        else if (strcmp(argv[1], "meta") == 0)
                res = check_meta(&h, max_states, stdout);
        else if (strcmp(argv[1], "set") == 0)
                res = check_set(&h, stdout);
        else if (strcmp(argv[1], "lock") == 0)
                res = check_lock(&h, stdout);
        else {
                fprintf(stderr, "chaos-check: unknown checker '%s'\n", argv[1]);
                history_done(&h);
                return 2;
        }
        history_done(&h);
        return (int) res;
}
