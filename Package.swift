// swift-tools-version: 6.0
import PackageDescription

// OpenVINO comes from the `openvino` PyPI wheel; scripts/bootstrap.sh links it at
// .deps/openvino (headers in include/, libraries in libs/ with rpath $ORIGIN).
let openVINO = Context.packageDirectory + "/.deps/openvino"
let openVINOLibs = openVINO + "/libs"

/// One settings list for every Swift target.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // Lets the clang importer find <openvino/c/openvino.h> behind COpenVINO.
    .unsafeFlags(["-Xcc", "-I\(openVINO)/include"]),
]

let package = Package(
    name: "Batchline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batchline", targets: ["batchline"]),
        .library(name: "Runtime", targets: ["Runtime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // TLS for the MQTT sink (async-http-client builds on it already).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries: one system-library target each; only their wrappers import them.
        .systemLibrary(
            name: "CFFmpeg",
            path: "Sources/CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]
        ),
        .systemLibrary(name: "COpenVINO", path: "Sources/COpenVINO"),

        // Core: clock, rings, bounded queues, the reorder buffer, one-shot completions, stop
        // signals and the blocking-work executor. Depends on nothing of ours.
        .target(name: "Core", swiftSettings: swiftSettings),
        // Video I/O: FFmpeg decoding and encoding behind a safe Swift API.
        .target(
            name: "VideoIO",
            dependencies: ["CFFmpeg", "Core", "Monitoring"],
            swiftSettings: swiftSettings
        ),
        // Inference backend: OpenVINO behind a safe Swift API.
        .target(
            name: "InferenceBackend",
            dependencies: ["COpenVINO", "Core"],
            swiftSettings: swiftSettings,
            linkerSettings: [
                .unsafeFlags([
                    "-L\(openVINOLibs)", "-l:libopenvino_c.so.2641",
                    "-Xlinker", "-rpath", "-Xlinker", openVINOLibs,
                ])
            ]
        ),
        // Vision: model sidecars, pre-processing, output decoders, drawing.
        .target(name: "Vision", dependencies: ["Core"], swiftSettings: swiftSettings),
        // Inference engine: the seam every backend plugs into (an engine runs batches, a loader makes
        // engines), with OpenVINO's engine behind it in OpenVINO/. Another backend is a folder here.
        .target(
            name: "InferenceEngine", dependencies: ["Core", "InferenceBackend", "Vision"], swiftSettings: swiftSettings
        ),
        // Model registry: a versioned model repository on disk, validated as untrusted input.
        .target(name: "ModelRegistry", dependencies: ["Core", "Vision"], swiftSettings: swiftSettings),
        // Model serving: the swap protocol (a value state machine), the model manager that loads,
        // stages and switches versions, and the repository watcher.
        .target(
            name: "ModelServing",
            dependencies: [
                "Core", "InferenceEngine", "ModelRegistry", "Monitoring", "Vision",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Batching: the batch size controller and its cost model, pure values; the simulator.
        .target(name: "Batching", swiftSettings: swiftSettings),
        // Monitoring: CPU, memory, cgroup, NVIDIA GPUs (NVML via dlopen).
        .target(name: "Monitoring", dependencies: ["Core"], swiftSettings: swiftSettings),
        // Runtime: streams (state machine, reconnects), the stages, the batcher, the pipeline that
        // joins them, and its outputs (events, stats, annotated video).
        .target(
            name: "Runtime",
            dependencies: [
                "Core", "VideoIO", "InferenceBackend", "InferenceEngine", "Vision", "Monitoring", "Batching",
                "ModelRegistry", "ModelServing", "Tracking", "Analytics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Delivery: the sinks (MQTT on swift-nio, webhooks on async-http-client), each behind its own
        // durable, bounded outbox (SQLite through GRDB) that an event leaves only when acknowledged.
        .target(
            name: "Delivery",
            dependencies: [
                "Core", "Analytics",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tools beside the runtime: the profiler and its plots, the quantizer.
        .target(
            name: "Tools",
            dependencies: [
                "Core", "Runtime", "InferenceBackend", "InferenceEngine", "Vision", "Monitoring", "Batching",
                "ModelRegistry", "ModelServing", "VideoIO",
            ],
            resources: [.copy("Resources/quantize.py")],
            swiftSettings: swiftSettings
        ),
        // The edge node: its YAML configuration (typed, checked as untrusted input), the stream
        // registry and the model hosts (a pipeline per model), its lifecycle. No HTTP here.
        .target(
            name: "EdgeNode",
            dependencies: [
                "Core", "Runtime", "ModelServing", "InferenceEngine", "Monitoring", "Batching", "ModelRegistry",
                "Vision", "InferenceBackend", "VideoIO", "Analytics", "Delivery",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The server (Hummingbird only): the control routes, the Open Inference Protocol, /metrics,
        // the event feed, the dashboard, a run's control socket, the control client, and the
        // ServiceGroup lifecycles of `serve` and `run`. The one place errors become HTTP statuses.
        .target(
            name: "Server",
            dependencies: [
                "Core", "EdgeNode", "Runtime", "ModelServing", "InferenceEngine", "Monitoring", "Batching",
                "ModelRegistry", "Vision", "InferenceBackend", "VideoIO", "Analytics", "Delivery", "Fleet",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            resources: [
                .copy("Resources/openapi.yaml"), .copy("Resources/dashboard.html"), .copy("Resources/fleet.html"),
                .copy("Resources/fleet-openapi.yaml"),
            ],
            swiftSettings: swiftSettings
        ),
        // Analytics: lines, zones and dwell on a stream's tracks, a pure value.
        .target(name: "Analytics", swiftSettings: swiftSettings),
        // Tracking: a multi-object tracker (Kalman motion, two-stage IoU association), a pure value.
        .target(name: "Tracking", dependencies: ["Vision"], swiftSettings: swiftSettings),
        // The fleet (`batchline fleet`): cameras across nodes, placed by headroom, reconciled.
        .target(
            name: "Fleet",
            dependencies: [
                "Core", "EdgeNode", "ModelRegistry",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // The tracker's benchmark (bench/tracker.sh runs it); not a product.
        .executableTarget(
            name: "TrackerBench", dependencies: ["Tracking", "Analytics"], path: "bench/TrackerBench",
            swiftSettings: swiftSettings),
        // The sinks' benchmark (bench/delivery.sh runs it); not a product.
        .executableTarget(
            name: "DeliveryBench", dependencies: ["Delivery", "Analytics"], path: "bench/DeliveryBench",
            swiftSettings: swiftSettings),
        // The thin CLI.
        .executableTarget(
            name: "batchline",
            dependencies: [
                "Core", "Runtime", "ModelServing", "Tools", "Batching", "ModelRegistry", "Vision", "EdgeNode", "Server",
                "Analytics", "Fleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "VideoIOTests", dependencies: ["VideoIO", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "InferenceBackendTests", dependencies: ["InferenceBackend", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "VisionTests", dependencies: ["Vision", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Core", "Runtime", "ModelServing", "InferenceEngine", "Tools", "VideoIO", "Vision", "Monitoring",
                "Batching", "Analytics", "TestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EdgeNodeTests",
            dependencies: ["EdgeNode", "Batching", "Analytics", "Delivery", "Runtime", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "ModelServingTests", dependencies: ["ModelServing"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FleetTests", dependencies: ["Fleet", "EdgeNode", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ModelRegistryTests", dependencies: ["ModelRegistry", "Vision", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "BatchingTests", dependencies: ["Batching"], swiftSettings: swiftSettings),
        .testTarget(name: "TrackingTests", dependencies: ["Tracking"], swiftSettings: swiftSettings),
        .testTarget(name: "AnalyticsTests", dependencies: ["Analytics"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DeliveryTests",
            dependencies: ["Delivery", "Analytics", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings),
        .testTarget(name: "MonitoringTests", dependencies: ["Core", "Monitoring"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "EdgeNode", "Runtime", "ModelServing", "Batching", "Analytics", "Fleet", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Yams", package: "Yams"),
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "CLITests", dependencies: ["TestSupport", "batchline", "VideoIO"], swiftSettings: swiftSettings),
        // The tests' shared fixtures: paths to the bundled assets, temporary repositories, serve
        // processes, real peers (Python scripts), and the scripted engine that isolates scheduling.
        .target(
            name: "TestSupport", dependencies: ["Core", "Monitoring", "InferenceEngine", "InferenceBackend", "Vision"],
            path: "Tests/TestSupport",
            exclude: [
                "dashboard_check.py", "live_http_camera.py", "opencv_frames.py", "mqtt_subscriber.py",
                "webhook_receiver.py",
                "rtsp_camera.py", "triton_client_check.py",
            ], swiftSettings: swiftSettings),
    ]
)
