/* list.h — intrusive circular doubly linked list.
 *
 * Embed a ListNode in a struct; a List head is a ListNode that points to
 * itself when empty. Insert/remove are O(1) and never allocate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/macro.h"

typedef struct ListNode {
        struct ListNode *prev, *next;
} ListNode;

typedef ListNode List;

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void list_init(ListNode *n) {
        n->prev = n->next = n;
}
static inline bool list_empty(const List *l) {
        return l->next == l;
}
/* A node that is not on any list (after list_init or list_remove). */
static inline bool list_node_linked(const ListNode *n) {
        return n->next != n;
}
static inline void list_insert_between(ListNode *n, ListNode *prev, ListNode *next) {
        n->prev = prev;
        n->next = next;
        prev->next = n;
        next->prev = n;
}
static inline void list_append(List *l, ListNode *n) {
        list_insert_between(n, l->prev, l);
}
static inline void list_prepend(List *l, ListNode *n) {
        list_insert_between(n, l, l->next);
}
/* Unlinks n and leaves it self-linked, so removing twice is harmless. */
static inline void list_remove(ListNode *n) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        list_init(n);
}
static inline ListNode *list_first(const List *l) {
        return list_empty(l) ? NULL : l->next;
}
static inline ListNode *list_last(const List *l) {
        return list_empty(l) ? NULL : l->prev;
}
size_t list_length(const List *l);

#define list_entry(node, type, member) container_of(node, type, member)

/* Iterate entries; `tmp` makes removal of `pos` safe inside the loop. */
#define list_foreach(pos, head, member)                                         \
        for (pos = list_entry((head)->next, __typeof__(*pos), member);          \
             &pos->member != (head);                                            \
             pos = list_entry(pos->member.next, __typeof__(*pos), member))

#define list_foreach_safe(pos, tmp, head, member)                               \
        for (pos = list_entry((head)->next, __typeof__(*pos), member),          \
             tmp = list_entry(pos->member.next, __typeof__(*pos), member);      \
             &pos->member != (head);                                            \
             pos = tmp, tmp = list_entry(tmp->member.next, __typeof__(*pos), member))
