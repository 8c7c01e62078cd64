/// What a node keeps of each analytics event besides its line: the snapshot (every event, where
/// a store is given) and the clip (events of streams that ask for one, `record:`).
public struct EventMedia: Sendable {
    /// Where the snapshots are kept (nil: nowhere).
    public var snapshots: EventSnapshots?
    /// Where the clips are kept (nil: nowhere; a stream's `record:` is then refused).
    public var clips: EventClips?

    /// Stores as given.
    public init(snapshots: EventSnapshots? = nil, clips: EventClips? = nil) {
        self.snapshots = snapshots
        self.clips = clips
    }
}
