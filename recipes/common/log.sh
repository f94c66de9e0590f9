# log MESSAGE: a timestamped line on stderr, as icefall's recipes print them. Lines from
# the stage helpers begin/end (recipes/common/stages.sh) name the recipe line that
# called them.
log() {
  local i=1
  case "${FUNCNAME[1]:-}" in begin|end) i=2 ;; esac
  local fname=${BASH_SOURCE[$i]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[$((i - 1))]}:${FUNCNAME[$i]}) $*" >&2
}
