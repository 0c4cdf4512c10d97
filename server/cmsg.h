/*
 * Ancillary data: control messages (struct cmsghdr) <-> plain items.
 *
 * Out (sendmsg): a client's items become the control buffer handed to the
 * kernel. Raw data goes as given; a decoded member is encoded into the
 * kernel's struct; SCM_RIGHTS names handles, whose fds take their place.
 * In (recvmsg): the kernel's control buffer becomes items, each with the
 * kernel's bytes exactly and, for the types of enum cmsg_view, a decoded
 * view; the fds of SCM_RIGHTS become handles through the caller's callback.
 *
 * Invariants: a control buffer built here carries no fd the client did not
 * name by a handle the lookup accepted (raw SCM_RIGHTS bytes are refused),
 * and no credentials the daemon could only send by its privileges. Every fd
 * a received buffer carries is either adopted by the caller or closed here.
 * Nothing else here does I/O. Items do not own their bytes: request items
 * point into the request, reply items into the received control buffer.
 */
#ifndef SOCKBROKER_CMSG_H
#define SOCKBROKER_CMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Room for an IPv4 or IPv6 address as text, with its NUL (INET6_ADDRSTRLEN). */
#define CMSG_ADDR_TEXT_MAX 46

/* The largest control buffer sendmsg builds. The kernel refuses control
 * data beyond its optmem limit (ENOBUFS) far below this anyway. */
#define CMSG_SEND_MAX (1024 * 1024)

/* The largest recvmsg ancbufsize honoured; larger values are clamped to it.
 * What the kernel delivers in one message (at most 253 fds, credentials, a
 * few small structs) is far below it. */
#define CMSG_RECV_MAX 16384

/* An upper bound on the encoded reply size of received ancillary data, per
 * byte of control buffer (SCM_RIGHTS: 4 bytes of fd become a handle id as a
 * varint and a native int). wire.c keeps room for it beside the data. */
#define CMSG_REPLY_FACTOR 4

/* The decoded view an item carries beside (requests: instead of) its bytes. */
enum cmsg_view {
	CMSG_VIEW_NONE,           /* raw bytes only */
	CMSG_VIEW_RIGHTS,         /* SOL_SOCKET/SCM_RIGHTS: handle ids */
	CMSG_VIEW_CREDENTIALS,    /* SOL_SOCKET/SCM_CREDENTIALS */
	CMSG_VIEW_PKTINFO,        /* IP_PKTINFO, IPV6_PKTINFO */
	CMSG_VIEW_INT,            /* IP_TOS, IP_TTL, IPV6_HOPLIMIT, IPV6_TCLASS */
	CMSG_VIEW_TIMESTAMP,      /* SO_TIMESTAMP, SO_TIMESTAMPNS (received only) */
	CMSG_VIEW_EXTENDED_ERROR, /* IP_RECVERR, IPV6_RECVERR (received only) */
};

struct cmsg_item {
	int level, type;
	uint8_t *data; /* not owned; see the header paragraph */
	size_t len;
	enum cmsg_view view;
	union {
		struct {
			uint64_t *handles; /* not owned */
			size_t count;
		} rights;
		struct {
			int64_t pid, uid, gid;
		} credentials;
		struct {
			uint32_t ifindex;
			char spec_dst[CMSG_ADDR_TEXT_MAX]; /* IPv4 only; "" = 0.0.0.0 */
			char addr[CMSG_ADDR_TEXT_MAX];     /* "" = the any address */
		} pktinfo;
		int int_value;
		struct {
			int64_t seconds, nanoseconds;
		} timestamp;
		struct {
			uint32_t errnum, origin, type, code, info, data;
			struct sockaddr_buf offender; /* len 0: none */
		} extended_error;
	};
};

/* The fd of handle `id` for SCM_RIGHTS: the fd, or -EBADF when `id` is not a
 * handle the sender may pass. */
typedef int (*cmsg_fd_lookup)(void *userdata, uint64_t id);

/*
 * Take a received fd: make it a handle and return 0 with its id in *id, or
 * close it and return 0 with *id = 0 when it is not something to hand out,
 * or return -errno (the fd closed either way).
 */
typedef int (*cmsg_fd_adopt)(void *userdata, int fd, uint64_t *id);

/* The control buffer size `items` need (the sum of their CMSG_SPACE), or
 * SIZE_MAX when it would exceed CMSG_SEND_MAX. */
size_t cmsg_build_size(const struct cmsg_item *items, size_t count);

/*
 * Encode `count` items into `buf` (buflen >= cmsg_build_size()); *used is
 * the control length to hand to the kernel. SCM_RIGHTS handle ids go
 * through `lookup`. Returns 0, or with `message` saying which item and why:
 *   -EINVAL  a malformed item (raw SCM_RIGHTS bytes, a decoded member that
 *            does not fit the level and type, raw data of the wrong size
 *            for a known type, an address that does not parse);
 *   -EBADF   an SCM_RIGHTS handle the lookup refused;
 *   -EPERM   credentials other than the daemon's own (only privilege would
 *            let the daemon send them, and it does not lend it).
 */
int cmsg_build(const struct cmsg_item *items, size_t count, cmsg_fd_lookup lookup, void *userdata,
	       uint8_t *buf, size_t buflen, size_t *used, char *message, size_t message_len);

/* How many items a received control buffer of `len` bytes holds at most. */
size_t cmsg_max_items(size_t len);

/* How many fds the SCM_RIGHTS items of a received control buffer carry. */
size_t cmsg_count_fds(const uint8_t *control, size_t len);

/* Close every fd the SCM_RIGHTS items of a received control buffer carry
 * (a recvmsg that fails after the kernel delivered them). */
void cmsg_close_fds(const uint8_t *control, size_t len);

/*
 * Decode a received control buffer into `items` (room for cmsg_max_items())
 * and *count. Items point into `control`. The fds of SCM_RIGHTS items go
 * through `adopt`; their ids are stored in `ids` (room for
 * cmsg_count_fds()) and, as native ints, over the fds in `control`. Returns
 * 0, or adopt's -errno: then every fd not yet adopted has been closed, and
 * the caller undoes the adoptions it made.
 */
int cmsg_parse(uint8_t *control, size_t len, struct cmsg_item *items, size_t *count, uint64_t *ids,
	       cmsg_fd_adopt adopt, void *userdata);

/* "IPPROTO_IP, IP_PKTINFO" or "level 41, type 99": for messages. */
void cmsg_describe(int level, int type, char *buf, size_t len);

#endif
