#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int64_t net_now_ms(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return 0; /* cannot happen for CLOCK_MONOTONIC on Linux */
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool add_ipv4(struct net_addresses *addresses, const struct in_addr *ip, uint16_t port)
{
    if (addresses->count >= NET_MAX_ADDRESSES)
        return false;
    struct sockaddr_in *sin = (struct sockaddr_in *)&addresses->address[addresses->count];
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = *ip;
    addresses->length[addresses->count++] = sizeof *sin;
    return true;
}

static bool add_ipv6(struct net_addresses *addresses, const struct in6_addr *ip, uint16_t port)
{
    if (addresses->count >= NET_MAX_ADDRESSES)
        return false;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addresses->address[addresses->count];
    memset(sin6, 0, sizeof *sin6);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = *ip;
    addresses->length[addresses->count++] = sizeof *sin6;
    return true;
}

bool net_resolve(const char *host, uint16_t port, struct net_addresses *addresses, const char **error)
{
    struct in_addr ipv4;
    struct in6_addr ipv6;
    addresses->count = 0;

    /* Literals and localhost never touch the resolver: no file reads in an empty container, and no
     * chance of a DNS delay that the timeout does not cover. */
    if (inet_pton(AF_INET, host, &ipv4) == 1)
        return add_ipv4(addresses, &ipv4, port);
    if (inet_pton(AF_INET6, host, &ipv6) == 1)
        return add_ipv6(addresses, &ipv6, port);
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
        ipv4.s_addr = htonl(INADDR_LOOPBACK);
        return add_ipv4(addresses, &ipv4, port) && add_ipv6(addresses, &in6addr_loopback, port);
    }

    struct addrinfo hints;
    struct addrinfo *results = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &results);
    if (rc != 0) {
        *error = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        return false;
    }
    for (struct addrinfo *ai = results; ai != NULL && addresses->count < NET_MAX_ADDRESSES;
         ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            add_ipv4(addresses, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, port);
        else if (ai->ai_family == AF_INET6)
            add_ipv6(addresses, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, port);
    }
    freeaddrinfo(results);
    if (addresses->count == 0) {
        *error = "no IPv4 or IPv6 address";
        return false;
    }
    return true;
}

/* Waits until fd is ready for events or the deadline passes. */
static enum net_status wait_for(int fd, short events, int64_t deadline_ms, int *error_number)
{
    for (;;) {
        int64_t remaining = deadline_ms - net_now_ms();
        if (remaining <= 0)
            return NET_TIMEOUT;
        struct pollfd entry = {.fd = fd, .events = events};
        int ready = poll(&entry, 1, remaining > 60000 ? 60000 : (int)remaining);
        if (ready > 0)
            return NET_OK; /* errors and hang-ups surface from the next socket call */
        if (ready < 0 && errno != EINTR) {
            *error_number = errno;
            return NET_FAILED;
        }
    }
}

enum net_status net_connect(const struct net_addresses *addresses, int64_t deadline_ms, int *fd,
                            int *error_number)
{
    *error_number = EHOSTUNREACH;
    for (size_t i = 0; i < addresses->count; i++) {
        const struct sockaddr *address = (const struct sockaddr *)&addresses->address[i];
        int sock = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (sock < 0) {
            *error_number = errno;
            continue;
        }
        if (connect(sock, address, addresses->length[i]) == 0) {
            *fd = sock;
            return NET_OK;
        }
        if (errno != EINPROGRESS) {
            *error_number = errno;
            close(sock);
            continue;
        }
        enum net_status waited = wait_for(sock, POLLOUT, deadline_ms, error_number);
        if (waited != NET_OK) {
            close(sock);
            return waited; /* the budget is spent; later addresses would get none */
        }
        int socket_error = 0;
        socklen_t option_length = sizeof socket_error;
        if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &socket_error, &option_length) != 0)
            socket_error = errno;
        if (socket_error == 0) {
            *fd = sock;
            return NET_OK;
        }
        *error_number = socket_error;
        close(sock);
    }
    return NET_FAILED;
}

enum net_status net_send_all(int fd, const char *data, size_t length, int64_t deadline_ms, int *error_number)
{
    size_t sent = 0;
    while (sent < length) {
        /* MSG_NOSIGNAL: a peer that closed early must give an error, not kill us with SIGPIPE. */
        ssize_t n = send(fd, data + sent, length - sent, MSG_NOSIGNAL);
        if (n >= 0) {
            sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            *error_number = errno;
            return NET_FAILED;
        }
        enum net_status waited = wait_for(fd, POLLOUT, deadline_ms, error_number);
        if (waited != NET_OK)
            return waited;
    }
    return NET_OK;
}

enum net_status net_receive(int fd, char *buffer, size_t capacity, int64_t deadline_ms, size_t *received,
                            int *error_number)
{
    for (;;) {
        ssize_t n = recv(fd, buffer, capacity, 0);
        if (n >= 0) {
            *received = (size_t)n;
            return NET_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            *error_number = errno;
            return NET_FAILED;
        }
        enum net_status waited = wait_for(fd, POLLIN, deadline_ms, error_number);
        if (waited != NET_OK)
            return waited;
    }
}

void net_close_quietly(int fd, char *scratch, size_t scratch_size)
{
    for (int i = 0; i < 4; i++) {
        if (recv(fd, scratch, scratch_size, MSG_DONTWAIT) <= 0)
            break;
    }
    close(fd);
}
