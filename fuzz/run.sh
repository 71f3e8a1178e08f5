#!/usr/bin/env bash
# Fuzz the harnesses with AFL++ and ASan+UBSan: fuzz/run.sh HARNESS|all SECONDS
# Builds them with afl-cc in build-fuzz/, fuzzes each for SECONDS (output in
# build-fuzz/afl/<harness>/, never committed), prints one line per harness
# (executions, edges, crashes, hangs) and copies new crashes into
# fuzz/regressions/<harness>/, which the 'fuzz' test suite replays.  Hangs
# are copied as .pending (not replayed) until someone confirms them: a busy
# machine makes some up.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
harnesses=(tcp_ctrl_rx tcp_host_rx ctrl_cmds vfio_user config rpc auth)

usage() { echo "usage: $0 {$(IFS='|'; echo "${harnesses[*]}")|all} SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
case $2 in '' | *[!0-9]*) usage ;; esac
secs=$2
if [ "$1" = all ]; then
  run=("${harnesses[@]}")
else
  [[ " ${harnesses[*]} " == *" $1 "* ]] || usage
  run=("$1")
fi

if ! command -v afl-fuzz >/dev/null || ! command -v afl-cc >/dev/null; then
  echo "installing afl++" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y afl++ >&2
fi

build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  # -Werror off: another compiler's warnings must not stop a fuzzing run.
  CC=afl-cc meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
    -Dbuildtype=debugoptimized >"$build.setup.log" 2>&1 || { cat "$build.setup.log"; exit 1; }
fi
targets=()
for h in "${run[@]}"; do targets+=("fuzz/fuzz_$h"); done
ninja -C "$build" "${targets[@]}" >"$build.ninja.log" 2>&1 || { tail -40 "$build.ninja.log"; exit 1; }

export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SKIP_CRASHES=1 # a saved crash that still crashes must not stop the run
export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=0

stat() { # file key...: the value of the first key present
  local f=$1 k v
  shift
  for k in "$@"; do
    v=$(sed -n "s/^$k *: *//p" "$f" | head -1)
    if [ -n "$v" ]; then
      echo "$v"
      return
    fi
  done
  echo "?"
}

summary=()
for h in "${run[@]}"; do
  out="$build/afl/$h"
  in="$build/afl/$h.in"
  rm -rf "$out" "$in"
  mkdir -p "$in"
  cp fuzz/corpus/"$h"/* "$in"/
  # Inputs that crashed before (fixed or still pending) are good seeds too.
  if [ -d fuzz/regressions/"$h" ]; then
    find fuzz/regressions/"$h" -type f ! -name 'README*' -exec cp {} "$in"/ \;
  fi
  dict=()
  if [ -f fuzz/dict/"$h".dict ]; then dict=(-x fuzz/dict/"$h".dict); fi
  # Milliseconds an input may take: the large DH-HMAC-CHAP groups are slow by nature.
  tmo=1000
  if [ "$h" = auth ]; then tmo=3000; fi
  echo "fuzzing $h for ${secs}s" >&2
  nice -n 10 afl-fuzz -i "$in" -o "$out" -m none -t "$tmo" -V "$secs" "${dict[@]}" -- "$build/fuzz/fuzz_$h" \
    >"$out.log" 2>&1 || { echo "afl-fuzz failed for $h:" >&2; tail -30 "$out.log" >&2; }
  st="$out/default/fuzzer_stats"
  if [ ! -f "$st" ]; then
    summary+=("$h: no fuzzer_stats (see $out.log)")
    continue
  fi
  new=0
  for kind in crashes hangs; do
    for f in "$out/default/$kind"/id:*; do
      [ -f "$f" ] || continue
      name=crash suffix=
      if [ "$kind" = hangs ]; then name=hang suffix=.pending; fi
      name=$name-$(sha1sum "$f" | cut -c1-12)
      dest=fuzz/regressions/"$h"
      mkdir -p "$dest"
      if ! ls "$dest/$name"* >/dev/null 2>&1; then # not known yet (maybe renamed .pending)
        install -m 644 "$f" "$dest/$name$suffix"
        new=$((new + 1))
      fi
    done
  done
  summary+=("$(printf '%-12s execs %s  edges %s (map %s)  crashes %s  hangs %s  new saved %s  corpus %s' "$h" \
    "$(stat "$st" execs_done)" "$(stat "$st" edges_found)" "$(stat "$st" bitmap_cvg)" \
    "$(stat "$st" saved_crashes unique_crashes)" "$(stat "$st" saved_hangs unique_hangs)" "$new" \
    "$(stat "$st" corpus_count paths_total)")")
done
printf '%s\n' "${summary[@]}"
