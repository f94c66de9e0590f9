# Kaldi-style option parsing, written for this project: every lowercase variable defined
# before sourcing this file can be set with --name value or --name=value (dashes map to
# underscores). Define help_message before sourcing it; --help prints it and exits 0.
# A boolean option (current value true or false) given with no value means true, so
# "--all" equals "--all true". Unknown options, options without a value and positional
# leftovers exit 1.
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      printf '%s\n' "${help_message:-no help}"
      exit 0 ;;
    --*=*)
      name="${1%%=*}"; value="${1#*=}"; shift ;;
    --*)
      name="$1"
      var="${name#--}"; var="${var//-/_}"
      if [[ "$var" =~ ^[a-z][a-z0-9_]*$ ]] && [[ "${!var-}" =~ ^(true|false)$ ]] \
         && { [ $# -lt 2 ] || [[ "$2" == --* ]]; }; then
        value=true; shift
      else
        if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
        value="$2"; shift 2
      fi ;;
    *)
      echo "$0: unexpected argument '$1' (options are --name value; see --help)" >&2
      exit 1 ;;
  esac
  var="${name#--}"; var="${var//-/_}"
  if ! [[ "$var" =~ ^[a-z][a-z0-9_]*$ ]] || [ "$var" = help_message ] \
     || [ -z "${!var+x}" ]; then
    echo "$0: unknown option $name (see --help)" >&2
    exit 1
  fi
  printf -v "$var" '%s' "$value"
done
unset name value var
