import ArgumentParser
import Foundation
import Logging
import Runtime

/// `batchline`: real-time video analytics on edge machines.
@main
struct Batchline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchline",
        abstract: "Real-time video analytics: decode, pre-process, batched inference, post-process.",
        subcommands: [Run.self, Serve.self, FleetCommand.self, Profile.self, Simulate.self, Models.self],
        defaultSubcommand: Run.self
    )
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log what happens (model loading, timings) to standard error.")
    var verbose = false

    /// Sends logs to standard error, at info level with --verbose, else warnings only (a service's
    /// notices too: streams added, reconnects, batch size decisions).
    func bootstrapLogging(serving: Bool = false) {
        configureNativeLogging(verbose: verbose)
        let level: Logger.Level = verbose ? .info : serving ? .notice : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Prints `batchline: error: message` on one line to standard error and exits with 1.
func fail(_ error: any Error) -> ExitCode {
    let text = "\(error)"
    let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandle.standardError.write(Data("batchline: error: \(line)\n".utf8))
    return ExitCode(1)
}
