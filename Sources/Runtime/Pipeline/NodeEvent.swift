import Analytics
import Batching
import Core
import ModelServing

/// What a node tells as it happens (its event feed listens): a stream's state changed, the batch
/// size manager decided, a model swap ended. Published where the thing happens, through an
/// `EventHub<NodeEvent>` given to the pipelines; never rebuilt by comparing snapshots.
public enum NodeEvent: Sendable, Equatable {
    /// A stream moved from one state to another.
    case stream(StreamChange)
    /// The batch size manager of `model` made `decision`.
    case decision(model: String, BatchDecision)
    /// A swap of `model` ended (swapped, rejected, refused, rolled back, abandoned).
    case swap(model: String, SwapRecord)
    /// A stream's line or zone saw something happen (a crossing, an entry, an exit, loitering).
    case analytics(stream: String, AnalyticsEvent)
}

/// A stream's change of state: `from` nil for a stream just added, `to` "removed" for one gone.
public struct StreamChange: Sendable, Equatable, Encodable {
    public var stream: String
    public var from: String?
    public var to: String
    public var lastError: String?
    public var reconnects: Int

    public init(stream: String, from: String?, to: String, lastError: String?, reconnects: Int) {
        self.stream = stream
        self.from = from
        self.to = to
        self.lastError = lastError
        self.reconnects = reconnects
    }

    enum CodingKeys: String, CodingKey {
        case stream, from, to, reconnects
        case lastError = "last_error"
    }

}
