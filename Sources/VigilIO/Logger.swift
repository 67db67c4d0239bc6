import Foundation
import Synchronization
import VigilCore
import VigilPipeline

/// One line per record on stderr, as text or JSON, with rate-limited repeats.
///
/// ```swift
/// logger.info("connected", ["broker": "127.0.0.1:1883"])
/// logger.debug("bad payload", ["reason": "syntax"], limitKey: "bad_payload")   // at most a few per second
/// ```
package final class Logger: Sendable {
    package enum Level: Int, Comparable, Sendable {
        case debug, info, warning, error
        package static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        package init?(name: String) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warning": self = .warning
            case "error": self = .error
            default: return nil
            }
        }
        var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    package enum Format: Sendable { case text, json }

    package let level: Level
    private let format: Format
    private let limiter: RateLimiter
    private let write: @Sendable (String) -> Void

    /// - Parameter write: where lines go (stderr by default; tests capture them).
    package init(
        level: Level = .info, format: Format = .text, perKeyPerSecond: Int = 5,
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.level = level
        self.format = format
        self.limiter = RateLimiter(perSecond: perKeyPerSecond)
        self.write = write
    }

    package func isEnabled(_ level: Level) -> Bool { level >= self.level }

    package func debug(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)] = [], limitKey: String? = nil) {
        log(.debug, message(), fields(), limitKey: limitKey)
    }
    package func info(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)] = [], limitKey: String? = nil) {
        log(.info, message(), fields(), limitKey: limitKey)
    }
    package func warning(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)] = [], limitKey: String? = nil) {
        log(.warning, message(), fields(), limitKey: limitKey)
    }
    package func error(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)] = [], limitKey: String? = nil) {
        log(.error, message(), fields(), limitKey: limitKey)
    }

    /// Writes one record, unless below the level or over its key's rate; the first record after a quiet spell
    /// says how many were suppressed.
    package func log(_ level: Level, _ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)], limitKey: String? = nil) {
        guard isEnabled(level) else { return }
        var fields = fields()
        if let limitKey {
            guard let suppressed = limiter.admit(limitKey) else { return }
            if suppressed > 0 { fields.append(("suppressed", String(suppressed))) }
        }
        let time = TimeFormat.iso8601(Double(WallClock.nowNanos()) / 1e9)
        switch format {
        case .text:
            var line = "\(time) \(level.name.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0))\(message())"
            for (key, value) in fields {
                let needsQuotes = value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
                line += " \(key)=" + (needsQuotes ? JSONWriter.string(value) : value)
            }
            write(line + "\n")
        case .json:
            var writer = JSONWriter()
            writer.field("ts", time)
            writer.field("level", level.name)
            writer.field("msg", message())
            for (key, value) in fields { writer.field(key, value) }
            write(writer.finish() + "\n")
        }
    }
}

/// Admits at most `perSecond` records per key per second, counting what it turns away.
final class RateLimiter: Sendable {
    private struct Window {
        var start: Int64
        var admitted: Int
        var suppressed: Int
    }

    private let perSecond: Int
    private let windows = Mutex<[String: Window]>([:])

    init(perSecond: Int) { self.perSecond = perSecond }

    /// nil when refused; otherwise how many were refused since the last admitted record of this key.
    func admit(_ key: String, now: Int64 = WallClock.nowNanos()) -> Int? {
        windows.withLock { windows in
            var window = windows[key] ?? Window(start: now, admitted: 0, suppressed: 0)
            if now - window.start >= 1_000_000_000 {
                window.start = now
                window.admitted = 0
            }
            defer { windows[key] = window }
            guard window.admitted < perSecond else {
                window.suppressed += 1
                return nil
            }
            window.admitted += 1
            let suppressed = window.suppressed
            window.suppressed = 0
            return suppressed
        }
    }
}
