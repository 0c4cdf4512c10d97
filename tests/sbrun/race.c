/*
 * The race of the sbrun tests: one thread connects (tcp) or sends a datagram
 * (udp) to an address in memory while a second thread flips that address
 * between an allowed and a denied destination as fast as it can. Whatever sbrun
 * judged must be what the kernel used: the program counts its outcomes, and
 * the test checks on the host that nothing reached the denied destination.
 *
 * race tcp|udp ALLOWED_HOST ALLOWED_PORT DENIED_HOST DENIED_PORT ITERATIONS
 * prints "connected N denied N other N denied-reached N" (tcp: a connect
 * whose peer is the denied host counts in denied-reached) or "sent N denied N
 * other N" (udp: one socket, connected to the allowed destination first,
 * sends to the flipping address; udp-unconnected: the same, never connected,
 * its first send making it sbrun's unconnected placeholder).
 *
 * race swap ...: the descriptor races too. A socket connected (handed over)
 * to the allowed destination and an AF_UNIX socket take turns at one
 * descriptor number while the address flips between an AF_UNIX name and
 * AF_UNSPEC (which would disconnect the TCP socket), and the first thread
 * connects that number. Prints
 * "handed-peer-ok 1" when the handed-over socket is still connected to the
 * allowed destination at the end.
 *
 * race swap-listen ...: a host socket (handed over while connecting to the
 * allowed destination, which must not answer, then shut down: unbound again)
 * and an AF_UNIX socket take turns at one descriptor number while the first
 * thread calls listen() and bind() (AF_UNSPEC, which an AF_INET socket takes
 * as INADDR_ANY) on it. Prints "host-listening N host-bound N": whether the
 * host socket ended listening or bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_in target; /* rewritten under the connecting thread's feet */
static struct sockaddr_in allowed, denied;
static atomic_bool done;

static void *
flip(void *arg)
{
	(void)arg;
	volatile unsigned char *bytes = (volatile unsigned char *)&target;
	while (!atomic_load(&done)) {
		for (size_t i = 0; i < sizeof(target); i++)
			bytes[i] = ((const unsigned char *)&denied)[i];
		for (size_t i = 0; i < sizeof(target); i++)
			bytes[i] = ((const unsigned char *)&allowed)[i];
	}
	return NULL;
}

static void
parse(struct sockaddr_in *sin, const char *host, const char *port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		fprintf(stderr, "race: bad address %s\n", host);
		exit(2);
	}
}

static struct sockaddr_un swap_target; /* big enough for every form below */
static int swap_slot, swap_files[2];

static void *
swap_flip(void *arg)
{
	(void)arg;
	struct sockaddr_un unix_name = { .sun_family = AF_UNIX };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	memcpy(unix_name.sun_path, "\0sbrun-race-nobody", 19);
	const void *forms[] = { &unix_name, &unspec };
	const size_t sizes[] = { sizeof(unix_name), sizeof(unspec) };
	volatile unsigned char *bytes = (volatile unsigned char *)&swap_target;
	/* Two states: the AF_UNIX socket with a unix name, the handed-over one with AF_UNSPEC. A
	 * check of the first acted on in the second would disconnect the handed-over socket. */
	for (unsigned i = 0; !atomic_load(&done); i++) {
		const unsigned char *form = forms[i % 2];
		for (size_t j = 0; j < sizes[i % 2]; j++)
			bytes[j] = form[j];
		dup2(swap_files[(i + 1) % 2], swap_slot);
	}
	return NULL;
}

static int
swap_race(int iterations)
{
	int handed = socket(AF_INET, SOCK_STREAM, 0);
	if (handed < 0 || connect(handed, (struct sockaddr *)&allowed, sizeof(allowed)) < 0) {
		fprintf(stderr, "race: connect to the allowed destination: %s\n", strerror(errno));
		return 2;
	}
	swap_files[0] = handed;
	swap_files[1] = socket(AF_UNIX, SOCK_STREAM, 0);
	swap_slot = dup(swap_files[1]);
	pthread_t flipper;
	if (swap_files[1] < 0 || swap_slot < 0 ||
	    pthread_create(&flipper, NULL, swap_flip, NULL) != 0)
		return 2;
	for (int i = 0; i < iterations; i++)
		connect(swap_slot, (struct sockaddr *)&swap_target, sizeof(swap_target));
	atomic_store(&done, true);
	pthread_join(flipper, NULL);
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int ok = getpeername(handed, (struct sockaddr *)&peer, &len) == 0 &&
		 peer.sin_addr.s_addr == allowed.sin_addr.s_addr &&
		 peer.sin_port == allowed.sin_port;
	printf("handed-peer-ok %d\n", ok);
	return 0;
}

static int
swap_listen_race(int iterations)
{
	int host = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (host < 0 || connect(host, (struct sockaddr *)&allowed, sizeof(allowed)) == 0 ||
	    errno != EINPROGRESS || shutdown(host, SHUT_RDWR) < 0) {
		fprintf(stderr, "race: a host socket connecting, then shut down: %s\n",
			strerror(errno));
		return 2;
	}
	/* Its name after the shutdown keeps the port it had (getsockname does not tell it is
	 * unbound): a bind shows as a change. */
	struct sockaddr_in before, local;
	socklen_t len = sizeof(before);
	memset(&before, 0, sizeof(before));
	getsockname(host, (struct sockaddr *)&before, &len);
	swap_files[0] = host;
	swap_files[1] = socket(AF_UNIX, SOCK_STREAM, 0);
	swap_slot = dup(swap_files[1]);
	pthread_t flipper;
	if (swap_files[1] < 0 || swap_slot < 0 ||
	    pthread_create(&flipper, NULL, swap_flip, NULL) != 0)
		return 2;
	struct sockaddr_in any = { .sin_family = AF_UNSPEC };
	for (int i = 0; i < iterations; i++) {
		listen(swap_slot, 1);
		bind(swap_slot, (struct sockaddr *)&any, sizeof(any));
	}
	atomic_store(&done, true);
	pthread_join(flipper, NULL);
	int listening = 0;
	len = sizeof(listening);
	getsockopt(host, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
	len = sizeof(local);
	memset(&local, 0, sizeof(local));
	getsockname(host, (struct sockaddr *)&local, &len);
	printf("host-listening %d host-bound %d\n", listening != 0,
	       memcmp(&local, &before, sizeof(local)) != 0);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 7 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "udp") != 0 &&
			  strcmp(argv[1], "udp-unconnected") != 0 && strcmp(argv[1], "swap") != 0 &&
			  strcmp(argv[1], "swap-listen") != 0)) {
		fprintf(stderr, "usage: race tcp|udp|udp-unconnected|swap|swap-listen ALLOWED_HOST "
				"PORT DENIED_HOST PORT N\n");
		return 2;
	}
	bool tcp = strcmp(argv[1], "tcp") == 0;
	parse(&allowed, argv[2], argv[3]);
	parse(&denied, argv[4], argv[5]);
	int iterations = atoi(argv[6]);
	target = allowed;
	if (strcmp(argv[1], "swap") == 0)
		return swap_race(iterations);
	if (strcmp(argv[1], "swap-listen") == 0)
		return swap_listen_race(iterations);

	pthread_t flipper;
	if (pthread_create(&flipper, NULL, flip, NULL) != 0)
		return 2;
	int ok = 0, refused = 0, other = 0, reached = 0;
	/* udp: one socket, connected to the allowed destination, sends to the flipping one. */
	int udp = -1;
	if (!tcp) {
		udp = socket(AF_INET, SOCK_DGRAM, 0);
		if (udp < 0 || (strcmp(argv[1], "udp") == 0 &&
				connect(udp, (struct sockaddr *)&allowed, sizeof(allowed)) < 0)) {
			fprintf(stderr, "race: udp connect: %s\n", strerror(errno));
			return 2;
		}
	}
	for (int i = 0; i < iterations; i++) {
		int fd = tcp ? socket(AF_INET, SOCK_STREAM, 0) : dup(udp);
		if (fd < 0)
			return 2;
		int r = tcp ? connect(fd, (struct sockaddr *)&target, sizeof(target))
			    : (int)sendto(fd, "race", 4, 0, (struct sockaddr *)&target,
					  sizeof(target));
		if (r >= 0) {
			ok++;
			struct sockaddr_in peer;
			socklen_t len = sizeof(peer);
			if (tcp && getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
			    peer.sin_addr.s_addr == denied.sin_addr.s_addr &&
			    peer.sin_port == denied.sin_port)
				reached++;
		} else if (errno == EACCES || errno == EPERM) {
			refused++;
		} else {
			other++;
			if (other == 1)
				fprintf(stderr, "race: %s\n", strerror(errno));
		}
		close(fd);
	}
	atomic_store(&done, true);
	pthread_join(flipper, NULL);
	if (tcp)
		printf("connected %d denied %d other %d denied-reached %d\n", ok, refused, other,
		       reached);
	else
		printf("sent %d denied %d other %d\n", ok, refused, other);
	return 0;
}
