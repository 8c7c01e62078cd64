import ModelServing

extension DetectionPipeline {
    /// A run's life: nothing loaded, then serving (the model manager, and once streams can attach
    /// the staged runtime and the batch size manager), then ended. One value, so that no mix of
    /// "model ready but no manager" can be seen.
    enum Phase: Sendable {
        /// Not started, or loading the model.
        case idle
        /// The model is ready.
        case serving(Serving)
        /// The run is over.
        case ended

        /// What a serving pipeline holds.
        struct Serving: Sendable {
            var models: ModelManager
            var runtime: StagedRuntime?
            var batcher: BatchManager?
        }

        /// What it serves, while it does.
        var serving: Serving? {
            if case .serving(let s) = self { return s }
            return nil
        }

        /// Changes what a serving pipeline holds; nothing otherwise.
        mutating func update(_ change: (inout Serving) -> Void) {
            guard case .serving(var s) = self else { return }
            change(&s)
            self = .serving(s)
        }
    }
}

/// What a running pipeline lets change, gathered in one value (GStreamer's `Settings` apart from
/// its `State`): the batch size the next batch uses, the inference requests kept in flight, and the
/// p99 latency target, seconds.
struct RuntimeSettings: Sendable, Equatable {
    var batchSize: Int
    var requests: Int
    var latencySLO: Double
}
