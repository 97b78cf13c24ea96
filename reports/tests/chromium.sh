#!/usr/bin/env bash
# The report in a real browser: headless Chromium renders two pages (a real
# fuzz campaign, and a synthetic results file with every group: failures with
# strips, loss, golden, zoo) and every <img> must have loaded (naturalWidth >
# 0). The image check runs in a copy of the page with a small script appended
# (the report itself has none); a copy with a missing image must be caught.
# Saves a screenshot of each page under SHOT_DIR. Exit 77 (skipped) only when
# no Chromium is installed.
set -euo pipefail
attncheck=$1
python=$2
src=$3
shot_dir=$4
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (Debian: apt-get install -y chromium; ci/deps.sh installs it)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$shot_dir"

fail() {
  echo "FAIL: $*"
  exit 1
}

chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$work/profile" --hide-scrollbars "$@" 2>>"$work/chromium.log"
}

# Writes a copy of DIR/index.html with the image check appended; prints the
# dumped DOM's check lines.
image_check() {
  local dir=$1 page=$2
  "$python" - "$dir/index.html" "$dir/$page" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
script = """<script>
window.addEventListener('load', function () {
  var lines = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    var ok = im.complete && im.naturalWidth > 0;
    lines.push('IMG ' + (ok ? 'ok' : 'broken') + ' ' + im.naturalWidth + 'x' + im.naturalHeight + ' ' +
               im.getAttribute('src'));
  }
  var pre = document.createElement('pre');
  pre.textContent = '\\nIMGCHECK ' + document.images.length + '\\n' + lines.join('\\n') + '\\nIMGCHECK-END\\n';
  document.body.appendChild(pre);
});
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(text.replace("</body>", script + "\n</body>"))
PY
  chrome --virtual-time-budget=15000 --dump-dom "file://$dir/$page" | grep -E '^(IMG|IMGCHECK)' || true
}

# Renders DIR's page: every image loaded, then a screenshot.
render() {
  local dir=$1 name=$2
  local want
  want=$(grep -o '<img ' "$dir/index.html" | wc -l)
  [ "$want" -gt 0 ] || fail "$dir/index.html has no image"
  local lines
  lines=$(image_check "$dir" check.html)
  echo "$lines" | grep -q "^IMGCHECK $want\$" || fail "$name: the browser saw no or another number of images than $want: $lines"
  [ "$(echo "$lines" | grep -c '^IMG ok ')" -eq "$want" ] || fail "$name: not every image loaded: $lines"
  echo "$name: $want images loaded in Chromium"
  rm -f "$dir/check.html"
  chrome --window-size=1400,4000 --screenshot="$shot_dir/$name.png" "file://$dir/index.html" >/dev/null
  "$python" - "$shot_dir/$name.png" <<'PY' || fail "$name: no screenshot"
import sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, (len(data), data[:8])
PY
  echo "$name: screenshot $shot_dir/$name.png"
}

# A real campaign.
"$attncheck" fuzz --impl reference-f32 --cases 5 --results "$work/fuzz.h5" --save-dir "$work/failures" \
  --no-progress >/dev/null
"$attncheck" report "$work/fuzz.h5" -o "$work/fuzz-report" >/dev/null
render "$work/fuzz-report" report-fuzz

# Every group, failures included.
"$python" - "$work/all.h5" "$src/reports/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import h5py, synthetic
with h5py.File(sys.argv[1], "w") as f:
    synthetic.root(f)
    synthetic.campaign(f, failing=True)
    synthetic.loss(f, failing=True)
    synthetic.golden(f, failing=True)
    synthetic.zoo(f)
PY
"$attncheck" report "$work/all.h5" -o "$work/all-report" >/dev/null
render "$work/all-report" report-all-groups

# The check itself: a page whose image is missing must be caught.
cp -r "$work/fuzz-report" "$work/broken"
rm "$work/broken/ratios.png"
lines=$(image_check "$work/broken" check.html)
echo "$lines" | grep -q '^IMG broken .* ratios.png$' || fail "a missing image went unnoticed: $lines"
echo "chromium: every image of both pages loaded; a missing image is caught"
