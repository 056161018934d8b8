#include "config.h"
/* list.c — the one non-inline list operation (see list.h). */

#include "lib/list.h"

size_t list_length(const List *l) {
        size_t n = 0;
        for (const ListNode *i = l->next; i != l; i = i->next)
                n++;
        return n;
}
