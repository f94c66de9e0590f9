# Stage plumbing shared by the recipes (source after setting $dir, $stage, $stop_stage
# and sourcing log.sh):
#   run_stage N          N is within --stage .. --stop-stage
#   begin N "what"       log the start of stage N
#   end N [TAG]          log its time and mark it done ($dir/.stageN[.TAG].done)
#   done_before N [TAG]  stage N (for TAG) finished in an earlier run
# and, for the real-data recipes, the steps they share:
#   make_features DATA NJ SET...               MFCC (alignment) + fbank (network)
#   align_sets DATA DIR NJ TRAIN_SET SET...    monophone GMM-HMM, then align each SET
#   render_cfg TEMPLATE EXP TOKEN=VALUE...     cfg/TEMPLATE.cfg -> EXP/exp.cfg
#   train_cfg EXP [EPOCHS]                     run_exp.py: train, forward, decode, score
#   cfg_stages TEMPLATE EXP EPOCHS TOKEN=VALUE...  stage 4 render_cfg, stage 5 train_cfg
SECONDS=0
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
begin() { stage_start=$SECONDS; log "stage $1: $2"; }
end() { log "stage $1 done in $((SECONDS - stage_start)) s"; touch "$dir/.stage$1${2:+.$2}.done"; }
done_before() { [ -f "$dir/.stage$1${2:+.$2}.done" ]; }

make_features() {
  local data=$1 nj=$2 s
  shift 2
  for s in "$@"; do
    pytorch-kaldi-snn compute-features "$data/$s" --kind mfcc --nj "$nj"
    pytorch-kaldi-snn compute-features "$data/$s" "$data/${s}_fbank" \
      --kind fbank --nj "$nj"
  done
}

align_sets() {
  local data=$1 out=$2 nj=$3 train=$4 s
  shift 4
  pytorch-kaldi-snn align "$data/$train" "$data/lang" "$out/mono" --nj "$nj"
  for s in "$@"; do
    pytorch-kaldi-snn align "$data/$s" "$data/lang" "$out/mono_$s" \
      --model-dir "$out/mono" --nj "$nj"
  done
}

render_cfg() {
  local template=$1 exp=$2
  shift 2
  mkdir -p "$exp"
  python3 -m pytorch_kaldi_snn.runner.render "cfg/$template.cfg" "$exp/exp.cfg" "$@"
}

train_cfg() {
  local exp=$1 epochs=${2:-}
  python3 run_exp.py "$exp/exp.cfg" ${epochs:+"--exp,n_epochs_tr=$epochs"}
  grep '%WER' "$exp/res.res" | tail -n 1
}

cfg_stages() {
  local template=$1 exp=$2 epochs=$3
  shift 3
  if run_stage 4; then
    begin 4 "render cfg/$template.cfg -> $exp/exp.cfg"
    render_cfg "$template" "$exp" OUT_FOLDER="$exp" "$@"
    end 4
  fi
  if run_stage 5; then
    begin 5 "train, forward, decode and score ${exp##*/}"
    train_cfg "$exp" "$epochs"
    end 5
  fi
  log "finished in $SECONDS s; results in $exp (res.res, table1.md)"
}
