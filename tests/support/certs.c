#include "certs.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fixture.h"

/* How long one openssl command may run (an upper bound on a loaded machine). */
#define OPENSSL_TIMEOUT_MS 60000

char cert_dir[64];

/* Run openssl with `args` in cert_dir, its output discarded; false when it fails. */
static bool
openssl(const char *const *args)
{
	const char *argv[32];
	int argc = 0;

	argv[argc++] = "openssl";
	for (size_t i = 0; args[i] && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || chdir(cert_dir) < 0)
			_exit(126);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	int64_t deadline = test_now_ms() + OPENSSL_TIMEOUT_MS;
	int status;
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return false;
		}
		test_sleep_ms(10);
	}
}

/* Write cert_dir/NAME.pem: NAME.crt followed by NAME.key. */
static void
concatenate(const char *name)
{
	char path[128], part[128], buf[4096];
	snprintf(path, sizeof(path), "%s/%s.pem", cert_dir, name);
	FILE *out = fopen(path, "w");
	ck_assert_ptr_nonnull(out);
	for (int i = 0; i < 2; i++) {
		snprintf(part, sizeof(part), "%s/%s.%s", cert_dir, name, i == 0 ? "crt" : "key");
		FILE *in = fopen(part, "r");
		ck_assert_msg(in, "openssl made no %s", part);
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
		fclose(in);
	}
	ck_assert_int_eq(fclose(out), 0);
}

/* Make key NAME.key and NAME.crt, signed by CA_NAME (ca.pem/ca.key style files). */
static bool
make_signed(const char *name, const char *subject, const char *ca_name, const char *extfile)
{
	char key[64], csr[64], crt[64], ca[64], ca_key[64];
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(csr, sizeof(csr), "%s.csr", name);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(ca, sizeof(ca), "%s.crt", ca_name);
	snprintf(ca_key, sizeof(ca_key), "%s.key", ca_name);
	const char *request[] = { "req", "-newkey", "ec", "-pkeyopt",
				  "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject,
				  "-keyout", key, "-out", csr, NULL };
	const char *sign[] = { "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
			       "-CAcreateserial", "-days", "2", "-out", crt,
			       extfile ? "-extfile" : NULL, extfile, NULL };
	return openssl(request) && openssl(sign);
}

static bool
make_ca(const char *name, const char *subject)
{
	char key[64], crt[64];
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	const char *args[] = { "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
			       subject, "-keyout", key, "-out", crt, NULL };
	return openssl(args);
}

bool
make_certificates(const char *test, const char *server_san)
{
	snprintf(cert_dir, sizeof(cert_dir), "/tmp/sockbroker-certs-XXXXXX");
	ck_assert_msg(mkdtemp(cert_dir), "mkdtemp: %s", strerror(errno));

	char ext[128];
	snprintf(ext, sizeof(ext), "%s/server.ext", cert_dir);
	FILE *f = fopen(ext, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "subjectAltName=%s\n", server_san);
	ck_assert_int_eq(fclose(f), 0);

	const char *version[] = { "version", NULL };
	if (!openssl(version)) {
		test_skip(test, "the openssl tool is missing, so no test certificates can be made");
		return false;
	}
	ck_assert_msg(make_ca("ca", "/CN=sockbroker test CA") &&
			      make_signed("server", "/CN=127.0.0.1", "ca", "server.ext") &&
			      make_signed("client", "/CN=test client", "ca", NULL) &&
			      make_ca("otherca", "/CN=another CA") &&
			      make_signed("stranger", "/CN=stranger", "otherca", NULL),
		      "openssl failed to make the test certificates");
	concatenate("server");
	concatenate("client");
	concatenate("stranger");
	return true;
}

void
remove_certificates(void)
{
	static const char *const files[] = {
		"ca.crt", "ca.key", "ca.srl", "otherca.crt", "otherca.key", "otherca.srl",
		"server.ext", "server.key", "server.csr", "server.crt", "server.pem",
		"client.key", "client.csr", "client.crt", "client.pem",
		"stranger.key", "stranger.csr", "stranger.crt", "stranger.pem",
	};
	char path[128];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", cert_dir, files[i]);
		unlink(path);
	}
	rmdir(cert_dir);
	cert_dir[0] = '\0';
}
