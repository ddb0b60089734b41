#!/bin/sh
# The HTML report in a real browser: kvsim run, compare and sweep write
# their folders, kvsim report makes a page of each, and headless Chromium
# (Debian's chromium) loads it. Fails on a console message (the page logs
# one for a plot that does not decode), on a page whose closing check did
# not mark the body (data-ok="1": every plot decoded, tables present), or
# on a screenshot that is not a PNG of the window's size or is nearly
# empty. Exits 77 (ctest: skipped) with a message when chromium is not
# installed; .ci/run installs it.
set -eu
KVSIM=${KVSIM_BIN:-kvsim}
SRC=${KVSIM_SOURCE_DIR:-.}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "report_browser: skipped: chromium is not installed (apt-get install chromium)"
    exit 77
fi
TMP=$(mktemp -d /tmp/kvsim-report-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$SRC"
"$KVSIM" run --trace traces/samples/tiny.csv --gpu a100-80gb --model llama-2-7b \
    --goodput ttft:5000 --out "$TMP/run" --quiet
"$KVSIM" compare --allocators paged,contiguous:reserve=max --trace traces/samples/tiny.csv \
    --gpu a100-80gb --model llama-2-7b --out "$TMP/compare" --quiet
"$KVSIM" sweep --vary max-num-seqs=4..64x4 --seeds 2 --workload 'sharegpt:n=100,rate=20' \
    --gpu a100-80gb --model llama-2-7b --out "$TMP/sweep" --quiet
fail=0
for kind in run compare sweep; do
    page="$TMP/$kind/report.html"
    "$KVSIM" report "$TMP/$kind" -o "$page" >/dev/null
    # --virtual-time-budget lets the load handler run before the DOM is dumped.
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
        --virtual-time-budget=5000 --dump-dom "file://$page" >"$TMP/$kind.dom" 2>"$TMP/$kind.log" || true
    if grep -q 'CONSOLE' "$TMP/$kind.log"; then
        echo "report_browser: $kind: console message:"; grep 'CONSOLE' "$TMP/$kind.log"; fail=1
    fi
    if ! grep -q '<body data-ok="1"' "$TMP/$kind.dom"; then
        echo "report_browser: $kind: the page's check did not pass (plots or tables missing)"; fail=1
    fi
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1200,900 --screenshot="$TMP/$kind.png" "file://$page" >/dev/null 2>&1 || true
    # A PNG (signature), 1200 x 900 (IHDR), and more than a blank page's few kB.
    sig=$(od -An -tx1 -N8 "$TMP/$kind.png" 2>/dev/null | tr -d ' \n')
    size=$(od -An -tu1 -j16 -N8 "$TMP/$kind.png" 2>/dev/null | tr -s ' ' | sed 's/^ //')
    bytes=$(wc -c <"$TMP/$kind.png" 2>/dev/null || echo 0)
    if [ "$sig" != "89504e470d0a1a0a" ] || [ "$size" != "0 0 4 176 0 0 3 132" ] || [ "$bytes" -lt 20000 ]; then
        echo "report_browser: $kind: bad screenshot (signature $sig, size bytes '$size', $bytes bytes)"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "report_browser: run, compare and sweep pages load without console messages"
exit $fail
