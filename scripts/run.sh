#!/usr/bin/env bash
# make run: the edge simulator and the agent on the embedded example, as
# the current user (no root). State, logs and the pid file go to $RUN.
# In the foreground, Ctrl-C, SIGTERM or closing the terminal stop both;
# DETACH=1 returns once both answer and `make stop` (scripts/stop.sh)
# stops them. A second make run while one runs is refused (exit 1) before
# it touches anything; so is a child that fails to start, with its log.
#
#   BIN=bin RUN=.run EXAMPLE=examples/acme DETACH=   (DETACH=1: detached)
#   EDGED_API=127.0.0.1:8780 EDGED_TEAM_DOMAIN=127.0.0.1:8781
#   EDGED_IDP=127.0.0.1:8782 EDGED_WIREGUARD=127.0.0.1:2408
#   AGENTD_PROXY=127.0.0.1:40000                     listen addresses
#   READY_TIMEOUT=30   seconds each process has to answer
#   GRACE=10           seconds between TERM and KILL when stopping
set -euo pipefail

BIN=${BIN:-bin}
RUN=${RUN:-.run}
EXAMPLE=${EXAMPLE:-examples/acme}
DETACH=${DETACH:-}
EDGED_API=${EDGED_API:-127.0.0.1:8780}
EDGED_TEAM_DOMAIN=${EDGED_TEAM_DOMAIN:-127.0.0.1:8781}
EDGED_IDP=${EDGED_IDP:-127.0.0.1:8782}
EDGED_WIREGUARD=${EDGED_WIREGUARD:-127.0.0.1:2408}
AGENTD_PROXY=${AGENTD_PROXY:-127.0.0.1:40000}
READY_TIMEOUT=${READY_TIMEOUT:-30}

# shellcheck source=scripts/stop.sh
. "$(dirname "$0")/stop.sh"

case $DETACH in
"" | 0) DETACH= ;;
1) ;;
*)
	echo "make run: DETACH=$DETACH: use DETACH=1 to return once both run, or leave it unset" >&2
	exit 2
	;;
esac
if ! [[ $READY_TIMEOUT =~ ^[0-9]+$ && $GRACE =~ ^[0-9]+$ ]]; then
	echo "make run: READY_TIMEOUT=$READY_TIMEOUT and GRACE=$GRACE must be numbers of seconds" >&2
	exit 2
fi

mkdir -p "$RUN"
RUNABS=$(cd "$RUN" && pwd)
SOCK="$RUNABS/agentd.sock"
# The command that stops this run: make stop knows only the default RUN.
STOP="make stop"
[ "$RUN" = .run ] || STOP="RUN=$RUN scripts/stop.sh"
EXPORTS="export ZTAGENT_SOCKET=$SOCK ZTAGENT_EDGED_STATE_DIR=$RUNABS/edged ZTAGENT_EDGED_API=http://$EDGED_API"

# The check and the new pid file happen under a lock, so that two make
# runs started at once cannot both find nothing running. The lock is
# released before the children start: they must not inherit it.
exec 9>>"$RUN/run.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
	echo "make run: another make run is starting in $RUN; wait for it, or run \`$STOP\`" >&2
	exit 1
fi
if read_pidfile && [ -n "$(running_pids)" ]; then
	{
		echo "make run: already running (pid file $PIDFILE):"
		describe_instance
		echo "  logs:      $RUN/edged.log, $RUN/agentd.log"
		echo "  export ZTAGENT_SOCKET=$SOCK ZTAGENT_EDGED_STATE_DIR=$RUNABS/edged ZTAGENT_EDGED_API=http://$PF_api"
		echo "Nothing was changed. Run \`$STOP\` to stop it, then make run again."
	} >&2
	exit 1
fi
chmod 700 "$RUN"

# write_pidfile replaces the pid file in one rename, so that make stop
# never reads half of it.
write_pidfile() {
	{
		[ -n "$DETACHED_OK" ] || echo "supervisor=$$"
		[ -z "$EDGED" ] || echo "edged=$EDGED"
		[ -z "$AGENTD" ] || echo "agentd=$AGENTD"
		echo "api=$EDGED_API"
		echo "team_domain=$EDGED_TEAM_DOMAIN"
		echo "idp=$EDGED_IDP"
		echo "wireguard=$EDGED_WIREGUARD"
		echo "proxy=$AGENTD_PROXY"
	} >"$PIDFILE.tmp"
	mv -f "$PIDFILE.tmp" "$PIDFILE"
}

EDGED= AGENTD= DETACHED_OK=
write_pidfile
exec 9>&-

# stop_children stops what this run started and removes the pid file.
stop_children() {
	local procs=()
	! alive "$AGENTD" agentd || procs+=("agentd=$AGENTD")
	! alive "$EDGED" edged || procs+=("edged=$EDGED")
	if [ ${#procs[@]} -gt 0 ]; then
		say "make run: stopping $(pretty "${procs[@]}")"
		# When one survives even SIGKILL, the pid file stays for make stop.
		stop_pids "${procs[@]}" || return 0
	fi
	# Reap them (they are gone or zombies by now).
	wait 2>/dev/null || true
	[ -z "$EDGED" ] || say "make run: stopped"
	rm -f "$PIDFILE"
}
on_signal() {
	trap - INT TERM HUP EXIT
	say
	say "make run: SIG$1 received"
	stop_children
	exit $((128 + $2))
}
on_exit() {
	local rc=$?
	trap - INT TERM HUP EXIT
	[ -n "$DETACHED_OK" ] || stop_children
	exit $rc
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
# SIGHUP is the terminal closing: a stop, not edged's "reload".
trap 'on_signal HUP 1' HUP
trap on_exit EXIT

# A new run starts new logs; the previous ones become *.log.1. Renaming
# (rather than truncating with >) keeps the bytes of anything that still
# writes to the old file, and a failed start can show its own log only.
for l in edged agentd; do
	[ ! -e "$RUN/$l.log" ] || mv -f "$RUN/$l.log" "$RUN/$l.log.1"
done

if ! out=$("$BIN/edged" validate --terraform "$EXAMPLE" --sim "$EXAMPLE/simulator.hcl" 2>&1); then
	echo "$out" >&2
	exit 1
fi

# fail NAME MESSAGE prints why NAME did not start and the end of its log;
# the exit trap stops what did start.
fail() {
	{
		echo "make run: $1 $2; the end of its log ($RUN/$1.log):"
		tail -n 20 "$RUN/$1.log" 2>/dev/null | sed 's/^/  | /'
	} >&2
	exit 1
}

# check_alive fails when a child has exited, with its exit status.
check_alive() {
	local name=$1 pid=$2 rc=0
	alive "$pid" "$name" && return 0
	wait "$pid" 2>/dev/null || rc=$?
	fail "$name" "exited (status $rc)"
}

# wait_ready NAME PROBE... runs PROBE until it succeeds, failing as soon
# as a child exits or after READY_TIMEOUT seconds with what PROBE said.
wait_ready() {
	local name=$1 out
	shift
	local deadline=$((SECONDS + READY_TIMEOUT)) probe=("$@")
	# A probe that hangs (something else holds the port and never
	# answers) must not hide that the child has died meanwhile.
	! command -v timeout >/dev/null 2>&1 || probe=(timeout 5 "$@")
	while :; do
		[ -z "$EDGED" ] || check_alive edged "$EDGED"
		[ -z "$AGENTD" ] || check_alive agentd "$AGENTD"
		out=$("${probe[@]}" 2>&1) && return 0
		[ "$out" != "" ] || out="no answer within 5s"
		if [ $SECONDS -ge "$deadline" ]; then
			fail "$name" "runs but did not answer within ${READY_TIMEOUT}s; the last check said: $out"
		fi
		sleep 0.2
	done
}

# Each child gets a session of its own (setsid): a hangup or Ctrl-C in
# this terminal reaches only this script, which stops both in order, and
# a detached run survives the terminal. Not being a process group leader,
# setsid execs in place, so $! is the child's pid.
setsid "$BIN/edged" run --terraform "$EXAMPLE" --sim "$EXAMPLE/simulator.hcl" --state-dir "$RUN/edged" \
	--api "$EDGED_API" --team-domain "$EDGED_TEAM_DOMAIN" --idp "$EDGED_IDP" --wireguard "$EDGED_WIREGUARD" \
	--serve-demo-upstreams </dev/null >>"$RUN/edged.log" 2>&1 &
EDGED=$!
write_pidfile
wait_ready edged "$BIN/edged" clock show --api "http://$EDGED_API" --state-dir "$RUN/edged"

setsid "$BIN/agentd" run --state-dir "$RUN/agentd" --socket "$SOCK" --keyring auto --team acme \
	--edge-api "http://$EDGED_API" --proxy-addr "$AGENTD_PROXY" </dev/null >>"$RUN/agentd.log" 2>&1 &
AGENTD=$!
write_pidfile
wait_ready agentd env ZTAGENT_SOCKET="$SOCK" "$BIN/agentctl" status

if [ -n "$DETACH" ]; then
	where="In this terminal or another:"
	how="$STOP stops both."
else
	where="In another terminal:"
	how="Ctrl-C (or $STOP) stops both."
fi
cat <<MSG
make run: running edged (pid $EDGED) and agentd (pid $AGENTD); logs in $RUN/edged.log, $RUN/agentd.log.

$where
  $EXPORTS
  $BIN/agentctl register          # sign in as alice@example.com / alice-demo-password
  curl -x http://$AGENTD_PROXY http://wiki.acme.internal/
  $BIN/agentctl session           # when each policy's session expires
  $BIN/edged clock advance 2h
  curl -x http://$AGENTD_PROXY http://wiki.acme.internal/   # refused: session expired
  $BIN/agentctl reauth            # sign in again; access returns
  $BIN/edged devices list
The browser pages live at http://acme.localhost:${EDGED_TEAM_DOMAIN##*:} and http://idp.localhost:${EDGED_IDP##*:}.

$how
MSG

if [ -n "$DETACH" ]; then
	# From here the children run on their own: the pid file no longer
	# names this script, and the exit trap leaves them alone.
	DETACHED_OK=1
	write_pidfile
	exit 0
fi

# Wake up every second to notice a child that died; the wait builtin
# returns at once when a signal arrives, so the traps run promptly.
while :; do
	check_alive edged "$EDGED"
	check_alive agentd "$AGENTD"
	sleep 1 &
	# Quiet: a hangup or Ctrl-C also kills this sleep, which bash reports.
	wait $! 2>/dev/null || true
done
