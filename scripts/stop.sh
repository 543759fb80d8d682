#!/usr/bin/env bash
# make stop: stops the edged and agentd that make run started, in the
# foreground in another terminal or detached (make run DETACH=1), from the
# pid file make run keeps in $RUN (default .run). Exit 0 also when nothing
# runs; 1 when a process could not be stopped.
#
# run.sh sources this file for the pid-file functions, so that both
# scripts agree on what "running" means; sourced, it runs nothing.
#
#   RUN=DIR    make run's directory (default .run)
#   GRACE=N    seconds between TERM and KILL (default 10; agentd stops
#              within 5, DESIGN REL5)

RUN=${RUN:-.run}
PIDFILE="$RUN/run.pid"
GRACE=${GRACE:-10}

# The pid file holds key=value lines, written by run.sh:
#   supervisor=PID   run.sh itself, while it runs in the foreground
#   edged=PID agentd=PID
#   api= team_domain= idp= wireguard= proxy=   the listen addresses
# read_pidfile loads them into PF_<key>; it fails when there is no file.
read_pidfile() {
	PF_supervisor= PF_edged= PF_agentd= PF_api= PF_team_domain= PF_idp= PF_wireguard= PF_proxy=
	[ -f "$PIDFILE" ] || return 1
	local k v
	while IFS='=' read -r k v; do
		case $k in
		supervisor | edged | agentd)
			# Only numbers: these are handed to kill.
			[[ $v =~ ^[0-9]+$ ]] && printf -v "PF_$k" '%s' "$v" ;;
		api | team_domain | idp | wireguard | proxy)
			printf -v "PF_$k" '%s' "$v" ;;
		esac
	done <"$PIDFILE"
	return 0
}

# alive PID NAME reports whether PID is a live process running NAME (the
# base name of its program or, for a script, of its first argument). The
# name check keeps a pid reused by another program after a crash from
# passing for make run's. A child of this shell is taken by its pid alone
# (it cannot be reused before we reap it, and right after the fork it
# still runs bash); a zombie counts as gone.
alive() {
	local pid=$1 name=$2 state ppid args
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	if [ -r "/proc/$pid/stat" ]; then
		# The command name in parentheses may hold spaces: skip past it.
		args=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
		read -r state ppid _ <<<"${args##*) }"
	else
		read -r state ppid <<<"$(ps -o stat=,ppid= -p "$pid" 2>/dev/null)"
	fi
	case $state in "" | Z*) return 1 ;; esac
	[ "$ppid" != "$$" ] || return 0
	if [ -r "/proc/$pid/cmdline" ]; then
		args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	else
		args=$(ps -o args= -p "$pid" 2>/dev/null | tr ' ' '\n')
	fi
	# The program, or the script an interpreter runs.
	local a i=0
	while IFS= read -r a && [ $i -lt 2 ]; do
		[ "${a##*/}" = "$name" ] && return 0
		i=$((i + 1))
	done <<<"$args"
	return 1
}

# running_pids prints "name=pid" for each process of the pid file that
# is alive, the supervisor first.
running_pids() {
	local n p
	for n in supervisor edged agentd; do
		p=PF_$n
		local prog=$n
		[ "$n" = supervisor ] && prog=run.sh
		alive "${!p}" "$prog" && echo "$n=${!p}"
	done
	return 0
}

# say prints a line, and survives a terminal that is gone (after SIGHUP a
# write fails with EIO; the stop must go on).
say() { printf '%s\n' "$*" 2>/dev/null || true; }

# stop_pids NAME=PID... sends TERM to each, waits up to GRACE seconds for
# all to exit, then KILLs what is left and waits for that too. It prints
# nothing on success and fails (naming them) when a process survives KILL.
stop_pids() {
	local np n p left
	for np in "$@"; do
		n=${np%%=*} p=${np#*=}
		kill -TERM "$p" 2>/dev/null || true
	done
	local deadline=$((SECONDS + GRACE)) killed=
	while :; do
		left=()
		for np in "$@"; do
			n=${np%%=*} p=${np#*=}
			[ "$n" = supervisor ] && n=run.sh
			alive "$p" "$n" && left+=("$np")
		done
		[ ${#left[@]} -eq 0 ] && return 0
		if [ $SECONDS -ge "$deadline" ]; then
			[ -n "$killed" ] && break
			say "make: $(pretty "${left[@]}") still running ${GRACE}s after SIGTERM; sending SIGKILL" >&2
			for np in "${left[@]}"; do kill -KILL "${np#*=}" 2>/dev/null || true; done
			killed=1 deadline=$((SECONDS + 5))
		fi
		sleep 0.1
	done
	say "make: could not stop $(pretty "${left[@]}"), even with SIGKILL" >&2
	return 1
}

# join_and prints its arguments as "a, b and c".
join_and() {
	local out=$1
	shift
	while [ $# -gt 1 ]; do
		out+=", $1"
		shift
	done
	[ $# -eq 0 ] || out+=" and $1"
	printf '%s' "$out"
}

# pretty NAME=PID... prints "edged (pid 1) and agentd (pid 2)".
pretty() {
	local out=() np n
	for np in "$@"; do
		n=${np%%=*}
		[ "$n" != supervisor ] || n="make run"
		out+=("$n (pid ${np#*=})")
	done
	join_and "${out[@]}"
}

# describe_instance prints what the pid file says runs, for messages.
describe_instance() {
	local procs
	mapfile -t procs < <(running_pids)
	say "  processes: $(pretty "${procs[@]}")"
	say "  ports:     control and admin API $PF_api, team domain $PF_team_domain, IdP $PF_idp, WireGuard $PF_wireguard (UDP), agent proxy $PF_proxy"
}

stop_main() {
	if [ $# -ne 0 ]; then
		echo "make stop: no arguments expected (got: $*); set RUN=DIR to name make run's directory" >&2
		return 2
	fi
	if ! [[ $GRACE =~ ^[0-9]+$ ]]; then
		echo "make stop: GRACE=$GRACE is not a number of seconds" >&2
		return 2
	fi
	if ! read_pidfile; then
		echo "make stop: nothing running (no $PIDFILE)"
		return 0
	fi
	local procs
	mapfile -t procs < <(running_pids)
	if [ ${#procs[@]} -eq 0 ]; then
		rm -f "$PIDFILE"
		echo "make stop: nothing running (removed $PIDFILE of a run that ended without cleaning up)"
		return 0
	fi
	# A foreground make run stops its own children when told to: it reaps
	# them and says so in its terminal. Its children are then gone or
	# zombies, which alive counts as gone.
	if alive "$PF_supervisor" run.sh; then
		stop_pids "supervisor=$PF_supervisor" || true
	fi
	local children=() np
	for np in "${procs[@]}"; do
		case $np in supervisor=*) ;; *) children+=("$np") ;; esac
	done
	local rc=0
	[ ${#children[@]} -eq 0 ] || stop_pids "${children[@]}" || rc=1
	# Kept when something survived, so that make stop can be run again.
	[ $rc -ne 0 ] || rm -f "$PIDFILE"
	[ $rc -ne 0 ] || echo "make stop: stopped $(pretty "${procs[@]}")"
	return $rc
}

# Run only when executed, not when run.sh sources this file.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	stop_main "$@"
fi
