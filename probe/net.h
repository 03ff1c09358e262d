/* Name resolution and deadline-bounded TCP I/O for the probe. Every call that can wait takes an
 * absolute deadline on the monotonic clock, so one budget covers the whole exchange. */
#ifndef PROBE_NET_H
#define PROBE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_MAX_ADDRESSES 8

struct net_addresses {
    size_t count;
    struct sockaddr_storage address[NET_MAX_ADDRESSES];
    socklen_t length[NET_MAX_ADDRESSES];
};

enum net_status {
    NET_OK,
    NET_TIMEOUT, /* the deadline passed */
    NET_FAILED,  /* a system call failed; see the errno value returned alongside */
};

/* Milliseconds on the monotonic clock. */
int64_t net_now_ms(void);

/* IPv4/IPv6 literals are converted directly and "localhost" means 127.0.0.1 then ::1, without reading
 * any file; other names go to getaddrinfo (in the static musl build: /etc/hosts, then DNS servers from
 * /etc/resolv.conf; no NSS). Returns false with *error set to a static description. */
bool net_resolve(const char *host, uint16_t port, struct net_addresses *addresses, const char **error);

/* Connects to the addresses in order until one accepts. *fd is a non-blocking socket on NET_OK. */
enum net_status net_connect(const struct net_addresses *addresses, int64_t deadline_ms, int *fd,
                            int *error_number);

enum net_status net_send_all(int fd, const char *data, size_t length, int64_t deadline_ms, int *error_number);

/* Waits for data and reads up to capacity bytes; *received is 0 at end of stream. */
enum net_status net_receive(int fd, char *buffer, size_t capacity, int64_t deadline_ms, size_t *received,
                            int *error_number);

/* Reads without waiting whatever the peer already sent (bounded), so that closing does not turn into a
 * reset that the server would log as an error, then closes fd. */
void net_close_quietly(int fd, char *scratch, size_t scratch_size);

#endif
