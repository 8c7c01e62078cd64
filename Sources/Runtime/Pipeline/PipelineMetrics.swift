import CoreMetrics
import Synchronization

/// A pipeline's batching series (by `model`), made once its model is known: the batch size and the
/// requests in flight, set where they change, and the batch size manager's decisions, counted where
/// each is recorded.
struct BatchingMetrics: Sendable {
    /// `batchline_batch_size`: the size the next batch uses.
    let batchSize: Gauge
    /// `batchline_requests_in_flight`: requests the inference stage keeps in flight.
    let requestsInFlight: Gauge
    /// `batchline_batch_decisions_total`: decisions of the batch size manager.
    let decisions: Counter

    /// The series of `model`, made through `factory`.
    init(model: String, factory: any MetricsFactory) {
        let dimensions = [("model", model)]
        batchSize = Gauge(label: "batchline_batch_size", dimensions: dimensions, factory: factory)
        requestsInFlight = Gauge(label: "batchline_requests_in_flight", dimensions: dimensions, factory: factory)
        decisions = Counter(label: "batchline_batch_decisions_total", dimensions: dimensions, factory: factory)
    }
}

extension DetectionPipeline {
    /// The model is `model`, serving `version`: its series are made, at the figures in force now.
    func makeMetrics(model: String, version: Int) {
        let made = BatchingMetrics(model: model, factory: metricsFactory)
        batchingMetrics.withLock { $0 = made }
        counters.serving(model: model, version: version)
        use(batchSize: currentBatchSize)
        use(requests: settings.withLock { $0.requests })
    }

    /// The next batch uses `size`.
    func use(batchSize size: Int) {
        let gauge = batchingMetrics.withLock { $0?.batchSize }
        settings.withLock { s in
            s.batchSize = size
            gauge?.record(size)
        }
    }

    /// The inference stage keeps `requests` in flight from now on.
    func use(requests: Int) {
        let gauge = batchingMetrics.withLock { $0?.requestsInFlight }
        settings.withLock { s in
            s.requests = requests
            gauge?.record(requests)
        }
    }
}
