/*
 * errname: errno numbers <-> their symbolic names ("ECONNREFUSED").
 *
 * Errno numbers differ between platforms (EAGAIN is 11 on Linux, 35 on the BSDs), so the wire
 * carries the name beside the number and each side maps the name to its own number. The table
 * is every name in Linux's <errno.h>. A number maps to exactly one canonical name; the aliases
 * EWOULDBLOCK, EDEADLOCK and ENOTSUP are accepted by name only, so 11 is always "EAGAIN", never
 * "EWOULDBLOCK". Both functions are pure and thread-safe.
 */
#ifndef SOCKBROKER_ERRNAME_H
#define SOCKBROKER_ERRNAME_H

#include <errno.h>

/*
 * Every canonical errno name, one X(NAME) each, in Linux's numeric order. An X-macro so that
 * other tables (the constants announced in the Hello reply) can be generated from the same
 * list. Expanding it needs <errno.h>, which this header includes.
 */
#define ERRNAME_CANONICAL(X) \
	X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF) \
	X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST) \
	X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) \
	X(ETXTBSY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) \
	X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG) \
	X(EIDRM) X(ECHRNG) X(EL2NSYNC) X(EL3HLT) X(EL3RST) X(ELNRNG) X(EUNATCH) X(ENOCSI) \
	X(EL2HLT) X(EBADE) X(EBADR) X(EXFULL) X(ENOANO) X(EBADRQC) X(EBADSLT) X(EBFONT) \
	X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) X(ENONET) X(ENOPKG) X(EREMOTE) X(ENOLINK) \
	X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP) X(EDOTDOT) X(EBADMSG) X(EOVERFLOW) \
	X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD) X(ELIBSCN) X(ELIBMAX) \
	X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ) \
	X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT) \
	X(EOPNOTSUPP) X(EPFNOSUPPORT) X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL) \
	X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS) \
	X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED) \
	X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN) \
	X(ENOTNAM) X(ENAVAIL) X(EISNAM) X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE) \
	X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED) X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD) \
	X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)

/* The other spellings of canonical errors, understood by errname_to_errno() only. */
#define ERRNAME_ALIASES(X) X(EWOULDBLOCK) X(EDEADLOCK) X(ENOTSUP)

/*
 * The canonical name of errno number e ("ECONNREFUSED"), or NULL if e is not an errno of this
 * platform. The result is a static string.
 */
const char *errname_from_errno(int e);

/*
 * The number of the errno called `name` on this platform, canonical names and aliases alike
 * ("EWOULDBLOCK" gives EAGAIN). Names are matched exactly (upper case). Returns 0 for NULL or
 * an unknown name.
 */
int errname_to_errno(const char *name);

#endif
