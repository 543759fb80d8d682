#!/bin/sh
# make run: the edge simulator and the agent on the embedded example, as
# the current user (no root). State and logs go to .run/; Ctrl-C stops both.
set -eu

BIN=${BIN:-bin}
RUN=${RUN:-.run}
EXAMPLE=${EXAMPLE:-examples/acme}
mkdir -p "$RUN"
chmod 700 "$RUN"
SOCK="$PWD/$RUN/agentd.sock"

if ! out=$("$BIN/edged" validate --terraform "$EXAMPLE" --sim "$EXAMPLE/simulator.hcl" 2>&1); then
	echo "$out" >&2
	exit 1
fi

EDGED= AGENTD=
stop() {
	trap - INT TERM EXIT
	echo
	echo "make run: stopping agentd and edged"
	[ -n "$AGENTD" ] && kill -TERM "$AGENTD" 2>/dev/null || true
	[ -n "$EDGED" ] && kill -TERM "$EDGED" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN/edged" run --terraform "$EXAMPLE" --sim "$EXAMPLE/simulator.hcl" --state-dir "$RUN/edged" \
	--serve-demo-upstreams >"$RUN/edged.log" 2>&1 &
EDGED=$!

# Wait (at most 30 s) until edged answers its admin API.
i=0
until "$BIN/edged" clock show --state-dir "$RUN/edged" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 60 ] || ! kill -0 "$EDGED" 2>/dev/null; then
		echo "make run: edged did not start; its log ($RUN/edged.log) says:" >&2
		tail -n 20 "$RUN/edged.log" >&2
		exit 1
	fi
	sleep 0.5
done

"$BIN/agentd" run --state-dir "$RUN/agentd" --socket "$SOCK" --keyring auto --team acme \
	--edge-api http://127.0.0.1:8780 >"$RUN/agentd.log" 2>&1 &
AGENTD=$!
i=0
until ZTAGENT_SOCKET="$SOCK" "$BIN/agentctl" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 60 ] || ! kill -0 "$AGENTD" 2>/dev/null; then
		echo "make run: agentd did not start; its log ($RUN/agentd.log) says:" >&2
		tail -n 20 "$RUN/agentd.log" >&2
		exit 1
	fi
	sleep 0.5
done

cat <<MSG
make run: the edge simulator and the agent are running (logs in $RUN/edged.log, $RUN/agentd.log).

In another terminal:
  export ZTAGENT_SOCKET=$SOCK
  $BIN/agentctl register          # sign in as alice@example.com / alice-demo-password
  curl -x http://127.0.0.1:40000 http://wiki.acme.internal/
  $BIN/agentctl session           # when each policy's session expires
  $BIN/edged clock advance 2h --state-dir $RUN/edged
  curl -x http://127.0.0.1:40000 http://wiki.acme.internal/   # refused: session expired
  $BIN/agentctl reauth            # sign in again; access returns
The browser pages live at http://acme.localhost:8781 and http://idp.localhost:8782.

Ctrl-C stops both.
MSG
wait
