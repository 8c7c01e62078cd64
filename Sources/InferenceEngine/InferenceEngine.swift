import Core
import Foundation
import InferenceBackend
import Monitoring
import Vision

/// Runs batches of pre-processed frames: the real detector, or a scripted stand-in that isolates
/// scheduling (tests, and the simulator) from the model.
///
/// Used from one thread at a time (the inference thread), never concurrently.
public protocol InferenceEngine: AnyObject {
    /// `name@version`, as events report it.
    var tag: String { get }
    /// Reads outputs into detections.
    var decoder: any OutputDecoder { get }
    /// The input the engine takes, for the pre-processor.
    var input: ModelSpec.InputSpec { get }
    /// The model's own name of each output role (`boxes` -> `detection_boxes`); roles themselves
    /// where it has none.
    var outputNames: [String: String] { get }
    /// `count` slots (requests) that each run one batch of `batch` frames; the same objects on every call.
    func slots(batch: Int, count: Int) throws -> [any EngineSlot]
    /// How many slots in flight the engine suggests.
    func suggestedSlots(batch: Int) throws -> Int
    /// Runs every slot of every size once before the stream starts (first runs allocate); by
    /// default nothing.
    func warmUp(sizes: [Int], requests: Int) throws
}

extension InferenceEngine {
    /// The model's name: the tag before its `@`.
    public var modelName: String { String(tag.split(separator: "@", maxSplits: 1).first ?? "") }

    /// The model's version: the tag after its `@` (empty without one).
    public var modelVersion: String { tag.split(separator: "@", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }

    /// The roles are the names.
    public var outputNames: [String: String] { [:] }

    /// Nothing to warm up.
    public func warmUp(sizes: [Int], requests: Int) throws {}

    /// Runs one batch of a blank frame in each of the first `requests` slots of batch `size`, all
    /// at once, and returns those slots.
    public func runBlank(size: Int, requests: Int) throws -> [any EngineSlot] {
        let blank = [UInt8](repeating: 0, count: Preprocessor(input: input).bytesPerFrame)
        let pool = try slots(batch: size, count: requests)
        for slot in pool {
            try slot.fill([blank])
            try slot.start()
        }
        for slot in pool { try slot.wait() }
        return pool
    }
}

/// One request: fill its input, start it, wait for it, read its outputs.
public protocol EngineSlot: AnyObject {
    /// Copies the batch's inputs in (each `Preprocessor.bytesPerFrame` bytes), padding the rest.
    func fill(_ inputs: [[UInt8]]) throws
    /// Starts the batch without waiting.
    func start() throws
    /// Blocks until the batch is done.
    func wait() throws
    /// The outputs the decoder needs, by role.
    func outputs() throws -> [String: FloatTensor]
}
