# Sourced by run.sh (Kaldi's cmd.sh): how parallel jobs are launched. The pip-only stack
# runs its jobs as local processes (--nj); with Kaldi's queue.pl set these for a cluster.
export train_cmd="${train_cmd:-run.pl}"
export decode_cmd="${decode_cmd:-run.pl}"
