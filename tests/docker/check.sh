#!/bin/sh
# Docker cannot run on the test machines, so the container files are checked
# against what they rely on instead: the packages the Dockerfile installs
# exist in debian/control, the compose file's build targets exist in the
# Dockerfile, the broker's configuration names the package's system user,
# and the group the application container is given is the one that owns
# the socket. (The configuration itself is checked against the schema by the
# schema test.)
# Usage: check.sh SOURCE_ROOT
set -eu

root=$1
dockerfile=$root/docker/Dockerfile
compose=$root/docker/compose.yaml
config=$root/docker/sockbrokerd.json
status=0

fail() {
	echo "FAIL: $*"
	status=1
}

packages=$(sed -n 's/^Package: //p' "$root/debian/control")
for deb in $(grep -o '/debs/[a-z0-9.+-]*_\*\.deb' "$dockerfile" | sed 's|/debs/||; s|_\*\.deb||' | sort -u); do
	if printf '%s\n' "$packages" | grep -qx "$deb"; then
		echo "ok: the Dockerfile installs $deb, a package of debian/control"
	else
		fail "the Dockerfile installs $deb, which debian/control does not build"
	fi
done

for target in $(sed -n 's/^ *target: *//p' "$compose"); do
	if grep -qi "^FROM .* AS $target\$" "$dockerfile"; then
		echo "ok: compose's target $target is a stage of the Dockerfile"
	else
		fail "compose builds the target $target, which the Dockerfile lacks"
	fi
done

user=$(sed -n 's/.*"user": *"\([^"]*\)".*/\1/p' "$config")
sysuser=$(awk '$1 == "u" { print $2 }' "$root/systemd/sockbroker.sysusers")
if [ -n "$user" ] && [ "$user" = "$sysuser" ]; then
	echo "ok: the broker runs as the package's user $user"
else
	fail "docker/sockbrokerd.json's privileges.user '$user' is not the package's user '$sysuser'"
fi

group=$(sed -n 's/.*"group": *"\([^"]*\)".*/\1/p' "$config")
added=$(sed -n 's/^ *group_add: *\["\([^"]*\)"\].*/\1/p' "$compose")
if [ -n "$group" ] && [ "$group" = "$added" ]; then
	echo "ok: the application container has the socket's group $group"
else
	fail "the socket's group (ipc.group '$group') is not the one compose adds to the app ('$added')"
fi

url=$(sed -n 's/.*"listen": *\["\([^"]*\)"\].*/\1/p' "$config")
if grep -q "SOCKBROKER_URL: $url\$" "$compose"; then
	echo "ok: the application container's SOCKBROKER_URL is the broker's listener $url"
else
	fail "compose's SOCKBROKER_URL is not the broker's listener '$url'"
fi
exit $status
