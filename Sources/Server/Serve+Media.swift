import EdgeNode
import Logging
import Runtime

extension Serve {
    /// The stores of the events' snapshots and clips. A store that cannot be opened stops the start
    /// when a configured stream needs it (one line naming the key); otherwise the node goes on
    /// without it, warned, and a stream added later that asks for clips is refused.
    static func eventMedia(_ config: ServiceConfig, logger: Logger) throws -> EventMedia {
        let streams = config.streams + config.nodes.values.flatMap { $0 }
        var media = EventMedia()
        do {
            let s = config.snapshots
            media.snapshots = try EventSnapshots(
                folder: s.folder, maxCount: s.maxCount, maxBytes: s.maxBytes, maxAge: s.maxAge)
        } catch {
            guard !streams.contains(where: { $0.analytics != nil }) else {
                throw ConfigError(file: config.file, key: "output.snapshots", error.message)
            }
            logger.warning("no event snapshots: \(error)")
        }
        do {
            let c = config.clips
            media.clips = try EventClips(
                folder: c.folder, maxCount: c.maxCount, maxBytes: c.maxBytes, maxAge: c.maxAge, logger: logger)
        } catch {
            guard !streams.contains(where: { $0.record != nil }) else {
                throw ConfigError(file: config.file, key: "output.clips", error.message)
            }
            logger.warning("no event clips: \(error)")
        }
        return media
    }
}
