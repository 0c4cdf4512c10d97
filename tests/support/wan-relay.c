/*
 * wan-relay: a small delaying TCP relay, the WAN test rig. It puts a fixed
 * one-way delay on every byte between its clients and one target, so that a
 * client on loopback sees the daemon as if across a link of twice that
 * round trip (no kernel qdisc needed). Tests also use it to break a link on
 * purpose.
 *
 * usage: wan-relay TARGET_HOST TARGET_PORT ONE_WAY_DELAY_MS
 *
 * It listens on 127.0.0.1 on a free port and prints that port and a line
 * break on stdout once it accepts. Each connection it accepts is connected
 * to TARGET (IPv4 or IPv6 literal) and relayed both ways, each chunk read
 * handed on ONE_WAY_DELAY_MS later, in order; an end of stream is handed on
 * the same way (shutdown). Signals:
 *   SIGUSR1  reset every relayed connection at once, both sides (RST), as a
 *            NAT that dropped the flows; the relay goes on accepting
 *   SIGUSR2  freeze: stop forwarding and stop reading, sockets left open (a
 *            link gone silent); SIGUSR2 again thaws
 *   SIGHUP   print the number of round trips relayed so far and a line break
 *            on stdout: the times a target answered a client that had sent
 *            something since the target last spoke (its connection's TCP
 *            handshake, which the relay answers itself, not counted)
 *   SIGTERM  exit
 * Bounds: at most MAX_PAIRS connections and QUEUE_MAX bytes in flight per
 * direction (reading pauses above it). One thread, one poll loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define CHUNK 65536
#define QUEUE_MAX (4 * 1024 * 1024)

struct chunk {
	struct chunk *next;
	int64_t due_ms;
	size_t len, off; /* len 0: the end of the stream */
	uint8_t data[];
};

struct direction {
	int from, to;
	struct chunk *head, *tail;
	size_t queued;
	bool eof_read, eof_sent;
};

struct pair {
	bool used;
	bool client_spoke; /* since the target last did */
	struct direction dir[2]; /* 0: client -> target, 1: target -> client */
};

static struct pair pairs[MAX_PAIRS];
static struct sockaddr_storage target;
static socklen_t target_len;
static int64_t delay_ms;
static bool frozen;
static unsigned long round_trips;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
free_queue(struct direction *d)
{
	while (d->head) {
		struct chunk *c = d->head;
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
	d->queued = 0;
}

static void
close_pair(struct pair *p, bool reset)
{
	for (int i = 0; i < 2; i++) {
		int fd = p->dir[i].from;
		if (reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(fd);
		free_queue(&p->dir[i]);
	}
	p->used = false;
}

static void
add_pair(int client)
{
	struct pair *p = NULL;
	for (int i = 0; i < MAX_PAIRS && !p; i++)
		if (!pairs[i].used)
			p = &pairs[i];
	int server = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!p || server < 0 || connect(server, (struct sockaddr *)&target, target_len) < 0) {
		if (server >= 0)
			close(server);
		close(client);
		return;
	}
	int one = 1;
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
	*p = (struct pair){ .used = true };
	p->dir[0].from = client;
	p->dir[0].to = server;
	p->dir[1].from = server;
	p->dir[1].to = client;
}

/* Read what `d` has to give now into its queue, due `delay_ms` from now. */
static bool
pump_in(struct direction *d, int64_t now)
{
	while (!d->eof_read && d->queued < QUEUE_MAX) {
		struct chunk *c = malloc(sizeof(*c) + CHUNK);
		if (!c)
			return false;
		ssize_t n = recv(d->from, c->data, CHUNK, 0);
		if (n < 0) {
			free(c);
			if (errno == EAGAIN || errno == EINTR)
				return true;
			return false;
		}
		c->next = NULL;
		c->due_ms = now + delay_ms;
		c->len = (size_t)n;
		c->off = 0;
		if (n == 0)
			d->eof_read = true;
		if (d->tail)
			d->tail->next = c;
		else
			d->head = c;
		d->tail = c;
		d->queued += (size_t)n;
	}
	return true;
}

/* Write out what is due; the earliest time something else is due, or -1. */
static bool
pump_out(struct direction *d, int64_t now, int64_t *next_due)
{
	while (d->head && d->head->due_ms <= now) {
		struct chunk *c = d->head;
		if (c->len == 0) {
			shutdown(d->to, SHUT_WR);
			d->eof_sent = true;
		} else {
			ssize_t n = send(d->to, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR;
			c->off += (size_t)n;
			d->queued -= (size_t)n;
			if (c->off < c->len)
				return true;
		}
		d->head = c->next;
		if (!d->head)
			d->tail = NULL;
		free(c);
	}
	if (d->head && (*next_due < 0 || d->head->due_ms < *next_due))
		*next_due = d->head->due_ms;
	return true;
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: wan-relay TARGET_HOST TARGET_PORT ONE_WAY_DELAY_MS\n");
		return 2;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)&target;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&target;
	int port = atoi(argv[2]);
	delay_ms = atoi(argv[3]);
	if (inet_pton(AF_INET, argv[1], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		target_len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, argv[1], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		target_len = sizeof(*sin6);
	} else {
		fprintf(stderr, "wan-relay: %s: not an IPv4 or IPv6 address\n", argv[1]);
		return 2;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in local = { .sin_family = AF_INET };
	socklen_t len = sizeof(local);
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&local, &len) < 0) {
		perror("wan-relay");
		return 1;
	}
	printf("%u\n", ntohs(local.sin_port));
	fflush(stdout);

	for (;;) {
		int64_t now = now_ms(), next_due = -1;
		struct pollfd fds[2 + 2 * MAX_PAIRS];
		int map[2 + 2 * MAX_PAIRS];
		nfds_t n = 0;

		for (int i = 0; i < MAX_PAIRS; i++) {
			struct pair *p = &pairs[i];
			if (!p->used || frozen)
				continue;
			bool ok = true;
			for (int k = 0; k < 2 && ok; k++)
				ok = pump_out(&p->dir[k], now, &next_due);
			if (!ok || (p->dir[0].eof_sent && p->dir[1].eof_sent)) {
				close_pair(p, !ok);
				continue;
			}
			for (int k = 0; k < 2; k++) {
				struct direction *d = &p->dir[k];
				short events = 0;
				if (!d->eof_read && d->queued < QUEUE_MAX)
					events |= POLLIN;
				if (d->head && d->head->due_ms <= now)
					events |= POLLOUT;
				fds[n] = (struct pollfd){ .fd = events & POLLOUT ? d->to : d->from,
							  .events = events };
				if (events & POLLIN && events & POLLOUT) {
					/* Two descriptors: read from `from`, write to `to`. */
					fds[n].events = POLLIN;
					fds[n].fd = d->from;
					map[n++] = i << 1 | k;
					fds[n] = (struct pollfd){ .fd = d->to, .events = POLLOUT };
				}
				map[n++] = i << 1 | k;
			}
		}
		fds[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		map[n++] = -1;
		fds[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		map[n++] = -2;
		int timeout = next_due < 0 ? -1 : (int)(next_due - now);
		if (poll(fds, n, timeout < 0 ? -1 : timeout) < 0 && errno != EINTR) {
			perror("wan-relay: poll");
			return 1;
		}
		now = now_ms();
		for (nfds_t j = 0; j < n; j++) {
			if (!fds[j].revents)
				continue;
			if (map[j] == -1) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (c >= 0)
					add_pair(c);
				continue;
			}
			if (map[j] == -2) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						for (int i = 0; i < MAX_PAIRS; i++)
							if (pairs[i].used)
								close_pair(&pairs[i], true);
					} else if (si.ssi_signo == SIGUSR2) {
						frozen = !frozen;
					} else if (si.ssi_signo == SIGHUP) {
						printf("%lu\n", round_trips);
						fflush(stdout);
					} else {
						return 0;
					}
				}
				continue;
			}
			struct pair *p = &pairs[map[j] >> 1];
			struct direction *d = &p->dir[map[j] & 1];
			if (!p->used || frozen)
				continue;
			if (fds[j].fd != d->from || !(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			size_t before = d->queued;
			bool ok = pump_in(d, now);
			if (d->queued > before) {
				/* Bytes from this side: a turn of the conversation. */
				if (d == &p->dir[0]) {
					p->client_spoke = true;
				} else if (p->client_spoke) {
					p->client_spoke = false;
					round_trips++;
				}
			}
			if (!ok)
				close_pair(p, true);
		}
	}
}
