# Reading a run's results file (source it):
#   per_line EXP DATA_NAME   the last '%WER' line of EXP/res.res for the forwarded set
#                            DATA_NAME (its decode_DATA_NAME_* folder): the phone error
#                            rate at the decoding settings chosen on dev; empty if none
#   per_of EXP DATA_NAME     that line's number only
per_line() { grep '^%WER' "$1/res.res" 2>/dev/null | grep "/decode_$2_" | tail -n 1 || true; }
per_of() { per_line "$1" "$2" | awk '{print $2}'; }
