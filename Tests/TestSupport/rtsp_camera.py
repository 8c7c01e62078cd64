#!/usr/bin/python3
"""A live RTSP camera on loopback: GStreamer's RTSP server playing a video file, looped.

    /usr/bin/python3 rtsp_camera.py VIDEO PORT [PATH]   -> rtsp://127.0.0.1:PORT/PATH (default cam)

Prints "ready" once it listens. Stop it with SIGKILL (its GLib loop ignores SIGTERM).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    video, port = sys.argv[1], sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else "cam"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    # Paced at the file's rate (a camera), H.264 with a key frame every second, looped by a
    # multifilesrc-free trick: the media is shared and rebuilt when it ends.
    factory.set_launch(
        f"( filesrc location={video} ! decodebin ! videoconvert ! videorate ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/" + path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
