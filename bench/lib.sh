# Shared by bench/run, bench/curve, bench/scale and bench/explain (sourced,
# not run): a throwaway stack started as `make run` starts it, its MariaDB
# set up as issue 11's lean path's, timed wrk runs, and the table writer.
# Figures, not assertions: nothing here fails on a slow machine.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1
CLK=$(getconf CLK_TCK)
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2s}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Commands bench_stop runs in reverse order (each script adds its own
# processes), then the stack itself goes.
cleanups=()
on_exit() { cleanups+=("$1"); }
bench_stop() {
	trap - EXIT INT TERM
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" 2>/dev/null; done
	[ -n "${dir:-}" ] && "$top/deploy/stack" stop "$dir" >/dev/null 2>&1
	[ -n "${dir:-}" ] && [ -z "${KEEP:-}" ] && rm -rf "$dir"
}

mysql() { mariadb --no-defaults --socket="$dir/run/mysqld.sock" -uroot stockd "$@"; }
sql1() { mysql -N -B -e "$1"; }

# bench_start NAME: the stack in a new temp dir, its default configuration
# (deploy/stack writes the conf file as for `make run`); WORKERS only when
# the caller's environment names it, written to the conf file, not pinned in
# the environment, so bench/curve can still change it with a reload.
bench_start() {
	dir=$(mktemp -d "/tmp/stockd-$1.XXXXXX")
	chmod 755 "$dir"
	trap bench_stop EXIT
	trap 'exit 130' INT TERM
	bench_workers=${WORKERS:-}
	# Keys of the app's configuration a caller's shell could pin: none of them
	# may change what `make run` would run.
	unset WORKERS ENABLE_STOCK_MANAGEMENT STOCKD_CONF LOG_FILE ACCESS_LOG METRICS MAX_CART_LINES \
		MAX_HOLD_PER_PRODUCT STOCK_RESERVATION_TIMEOUT RETRY_ATTEMPTS TXN_BUDGET_MS SWEEP_INTERVAL \
		MAX_REQUESTS AUDIT_INTERVAL ADMIN_TOKEN METRICS_TOKEN TRUST_LOOPBACK DB_SOCKET DB_USER \
		DB_PASSWORD DB_NAME DB_HOST DB_PORT LISTEN
	export HTTP_PORT DB_PORT
	read -r HTTP_PORT DB_PORT <<<"$(deploy/free-ports 2)"
	"$top/deploy/stack" start "$dir" >"$dir.start.log" 2>&1 || { cat "$dir.start.log" >&2; rm -f "$dir.start.log"; return 1; }
	rm -f "$dir.start.log"
	base="http://127.0.0.1:$HTTP_PORT"
	pid=$(cat "$dir/run/stockd.pid")
	cp "$dir/etc/stockd.conf" "$dir/etc/stockd.conf.base"
	tune_db || return 1
	[ -n "$bench_workers" ] && { reload "WORKERS=$bench_workers" || return 1; }
	log "stack up in $dir: $(workers) stockd workers, $(db_settings)"
}

# The lean path's MariaDB (issue 11): 1 GiB buffer pool, 512 MiB redo log, no
# binary log, flush at every commit. deploy/stack starts it with a 256 MiB
# pool and the default 96 MiB redo log; both are dynamic on 10.11, so they are
# set here rather than in the stack. Durability is not touched (already 1) and
# the stack writes no binary log.
tune_db() {
	sql1 "SET GLOBAL innodb_buffer_pool_size = 1073741824; SET GLOBAL innodb_log_file_size = 536870912" || return 1
	local i
	for i in $(seq 300); do
		[ "$(sql1 'SELECT @@innodb_buffer_pool_size')" = 1073741824 ] &&
			[ "$(sql1 'SELECT @@innodb_log_file_size')" = 536870912 ] && break
		sleep 0.2
	done
	[ "$(sql1 'SELECT @@innodb_flush_log_at_trx_commit, @@log_bin')" = "$(printf '1\t0')" ] ||
		{ log "MariaDB is not durable at every commit, or writes a binary log"; return 1; }
}
db_settings() {
	sql1 "SELECT CONCAT('MariaDB ', VERSION(), ': buffer pool ', @@innodb_buffer_pool_size DIV 1048576,
		' MiB, redo log ', @@innodb_log_file_size DIV 1048576, ' MiB, log_bin ', @@log_bin,
		', flush_log_at_trx_commit ', @@innodb_flush_log_at_trx_commit)"
}

metric() { curl -s "$base/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
workers() { curl -s "$base/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["workers"])'; }

# reload KEY=VALUE...: the stack's conf file plus these lines, SIGHUP, and
# wait until every worker is replaced.
reload() {
	{ cat "$dir/etc/stockd.conf.base"; printf '%s\n' "$@"; } >"$dir/etc/stockd.conf"
	local gen; gen=$(metric stockd_config_generation)
	kill -HUP "$pid"
	for _ in $(seq 300); do
		[ "$(metric stockd_config_generation)" -gt "$gen" ] && [ "$(metric stockd_reload_in_progress)" = 0 ] && return 0
		sleep 0.1
	done
	log "reload did not finish"; return 1
}

# CPU time (clock ticks, user + system) of mariadbd so far.
db_ticks() { sed 's/.*) //' "/proc/$(cat "$dir/run/mysqld.pid")/stat" | awk '{print $12 + $13}'; }

# Requests still in flight after a run end before anything resets or audits.
db_quiesce() {
	sleep 0.3
	for _ in $(seq 100); do
		[ "$(sql1 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')" = 0 ] && return 0
		sleep 0.1
	done
	log "warning: transactions still open after 10 s"
}

# After the reset's deletes (and any seeding): wait, at most 60 s, until
# InnoDB's purge has caught up (history list under 1,000 undo logs), so a
# timed run does not pay for the rows the previous one left behind.
db_purged() {
	local n
	for _ in $(seq 600); do
		n=$(sql1 "SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'" | awk '{print $2}')
		[ -n "$n" ] || { log "warning: no Innodb_history_list_length"; return 0; }
		[ "$n" -lt 1000 ] && return 0
		sleep 0.1
	done
	log "warning: purge still $n undo logs behind after 60 s"
}

# Before a timed run: wait (30 s at most) until mariadbd is idle again,
# under a fifth of a core over a second (the sweeper's audit and gauge take
# about a tenth), so no run starts while the server still works for the one
# before. db_purged waits for the purge's undo logs only, and bench/scale's
# row right after the 100-line carts (400k rows deleted) cost a third more
# than its neighbours. Says so when it waited more than 2 s.
db_settled() {
	local t0=$SECONDS a b busy=0
	for _ in $(seq 30); do
		a=$(db_ticks); sleep 1; b=$(db_ticks)
		busy=$(((b - a) * 100 / CLK))
		[ "$busy" -lt 20 ] && break
	done
	[ $((SECONDS - t0)) -gt 2 ] && log "settled after $((SECONDS - t0)) s (mariadbd at ${busy}% of a core in the last second)"
	return 0
}

# Every hold and cart line gone, reserved_stock back to 0, in one
# transaction (the sweeper's audit never sees half of it): each run starts
# from the same tables, as the lean path's runs do, and no cart reaches
# MAX_CART_LINES or a hold MAX_HOLD_PER_PRODUCT however long the runs are.
db_reset() {
	db_quiesce
	sql1 "START TRANSACTION; DELETE FROM stock_holds; DELETE FROM cart_items;
		UPDATE products SET reserved_stock = 0 WHERE reserved_stock <> 0; COMMIT"
}

# The audit's verdict: "ok", or FAILED with its breaches, or with the status
# and body of an answer that is not an audit at all (the log keeps it).
audit() {
	curl -s -w '\n%{http_code}' "$base/api/admin/audit" | python3 -c '
import json, sys
body, _, status = sys.stdin.read().rpartition("\n")
try:
    a = json.loads(body)
except ValueError:
    a = {}
if status == "200" and a.get("ok"):
    print("ok")
elif status == "200" and "problems" in a:
    print("FAILED:" + json.dumps(a["problems"][:3]))
else:
    print("FAILED:HTTP %s %s" % (status, body[:200].replace("\n", " ")))' | audit_why
}

# A verdict that is not an audit at all goes out with the app's last
# warnings and errors, which name the database error behind a 503.
audit_why() {
	local v
	v=$(cat)
	case $v in
	FAILED:HTTP*) printf '%s (app log: %s)\n' "$v" \
		"$(grep -E '^[^ ]+ (warn|error) ' "$dir/log/stockd.log" 2>/dev/null | tail -3 | tr '\n' ' ')" ;;
	*) printf '%s\n' "$v" ;;
	esac
}

# to_ms VALUE: wrk's latency (812.00us, 1.20ms, 2.01s) in ms.
to_ms() {
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# bench_wrk TSV TAG URL KIND CARTS PRODUCTS [LINES]: an unrecorded warm-up,
# RESET (a command, default db_reset), one timed wrk run at $CONNECTIONS for
# $DURATION, then the audit unless AUDIT=0. Appends to TSV:
#   TAG req/s p50_ms p99_ms requests non2xx socket_errors mariadbd_us/ok audit
bench_wrk() {
	local tsv=$1 tag=$2 url=$3; shift 3
	local out=$dir/wrk.out d0 d1 rps p50 p99 n bad sock us a
	if [ "$WARMUP" != 0 ]; then
		wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" --timeout 10s -s "$top/bench/hold.lua" "$url" -- "$@" >/dev/null 2>&1
	fi
	${RESET:-db_reset}
	db_purged
	db_settled
	d0=$(db_ticks)
	wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$top/bench/hold.lua" "$url" -- "$@" >"$out" 2>&1
	d1=$(db_ticks)
	cat "$out" >>"$dir/wrk-raw.log"
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	n=$(awk '/requests in/ {print $1}' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
	us=$(awk -v t=$((d1 - d0)) -v clk="$CLK" -v n="${n:-0}" -v b="${bad:-0}" \
		'BEGIN { ok = n - b; printf "%.0f", (ok > 0 ? t / clk * 1e6 / ok : 0) }')
	a=-
	if [ "${AUDIT:-1}" = 1 ]; then db_quiesce; a=$(audit); fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "${rps:-0}" "$p50" "$p99" "${n:-0}" "${bad:-0}" "${sock:-0}" "$us" "$a" >>"$tsv"
	log "$(printf '%-28s %8s req/s  p50 %7s ms  p99 %7s ms  non-2xx %s  socket errors %s  mariadbd %s us/ok  audit %s' \
		"$tag" "${rps:-0}" "$p50" "$p99" "${bad:-0}" "${sock:-0}" "$us" "$a")"
}

# splice MARKER: stdin replaces what docs/benchmarks.md has between
# <!-- bench:MARKER:start --> and <!-- bench:MARKER:end --> (the markers are
# added at the end of the file the first time).
splice() {
	python3 -c '
import sys
path, name = sys.argv[1], sys.argv[2]
block = sys.stdin.read().rstrip("\n") + "\n"
start, end = "<!-- bench:%s:start -->" % name, "<!-- bench:%s:end -->" % name
text = open(path).read()
if start in text and end in text:
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
else:
    head, tail = text.rstrip("\n") + "\n\n", "\n"
open(path, "w").write(head + start + "\n" + block + end + tail)
' "$top/docs/benchmarks.md" "$1"
}

# The busy-ness of the machine during a run is part of its figures.
machine() {
	printf '%s cores, load average %s' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
