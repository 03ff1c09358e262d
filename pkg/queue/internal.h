/* queue internals: the back-end table behind queue.h (not part of the public surface). */
#ifndef BOLLARD_QUEUE_INTERNAL_H
#define BOLLARD_QUEUE_INTERNAL_H

#include "queue/queue.h"

/* A back-end's calls; ready, stop, idle and report may be NULL (always ready, nothing to stop, always
 * idle, no one to report to). */
struct queue_ops {
    bool (*ready)(struct queue *q, char *why, size_t cap);
    enum queue_status (*publish)(struct queue *q, const struct queue_event *events, int n, int *accepted,
                                 long *jobs, char *why, size_t cap);
    int (*durable)(struct queue *q, const struct queue_event *taken, int n_taken, long long *ids, int cap);
    void (*stamped)(struct queue *q, const long long *ids, int n);
    /* Loss marker; NULL in a back-end that cannot lose data apart from the process (queue.c answers). */
    enum queue_status (*marker_check)(struct queue *q, long long *marker, char *why, size_t cap);
    enum queue_status (*reenqueue)(struct queue *q, const struct queue_event *events, int n, long *jobs,
                                   char *why, size_t cap);
    void (*recovery_begin)(struct queue *q);
    enum queue_status (*marker_raise)(struct queue *q, long long recovered, char *why, size_t cap);
    void (*poll)(struct queue *q, struct queue_slots *s, uint64_t now);
    int (*arm)(struct queue *q, struct queue_slots *s, uint64_t now);
    void (*ready_fd)(struct queue *q, struct queue_slots *s);
    int (*next_ms)(struct queue *q, const struct queue_slots *s, uint64_t now, int max_ms);
    void (*settle)(struct queue *q, struct queue_slots *s);
    void (*stop)(struct queue *q);
    bool (*idle)(const struct queue *q);
    void (*report)(struct queue *q, const struct queue_worker_figures *f, bool gone);
    void (*free)(struct queue *q);
};

/* First member of every back-end's struct. */
struct queue {
    const struct queue_ops *ops;
    struct queue_stats stats;
    bool stopping;
    long long marker_expected;  /* producer: queue_marker_expect */
    long long marker_published; /* producer: the value the last publish set */
};

/* Shared by the back-ends: the first FREE slot (busy++, zeroed, NEW), or NULL. */
struct queue_job *queue_slot_take(struct queue_slots *s);
/* Counts (and logs) a job whose outcome the back-end has carried out. */
void queue_count_settled(struct queue *q, const struct queue_job *j);
/* Frees a slot (its body with it). */
void queue_slot_release(struct queue_slots *s, struct queue_job *job);

#endif
