import Foundation

/// How a recording is written.
package enum RecordingFormat: String, Sendable, CaseIterable {
    /// One MQTT message a line: `{"t": <receive epoch ms>, "topic": "...", "payload": "<text>"}`, or
    /// `"payload_b64"` instead of `"payload"` for binary payloads.
    case jsonl
    /// A table with a header: a time column (`timestamp`, `time` or `datetime`) and numeric metric columns;
    /// each row is one message of one device.
    case csv

    /// The format a file name says: `.csv` is CSV; `.jsonl`, `.ndjson`, `.json` and `-` (standard input)
    /// are JSONL; nil for anything else (the reader then looks at the first byte: `{` is JSONL).
    package static func guess(path: String) -> RecordingFormat? {
        if path == "-" { return .jsonl }
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") { return .jsonl }
        return nil
    }
}

/// One file to read.
package struct RecordingInput: Sendable, Equatable {
    /// A path, or `-` for standard input (JSONL).
    package var path: String
    /// nil: from the file name, else from the first byte.
    package var format: RecordingFormat?
    /// CSV only: the device every row belongs to; nil uses the file's stem (`pump-7.csv` is `pump-7`).
    package var device: String?

    package init(path: String, format: RecordingFormat? = nil, device: String? = nil) {
        self.path = path
        self.format = format
        self.device = device
    }

    /// The device of a CSV file's rows: ``device``, else the file name without folder and last extension.
    package var csvDevice: String {
        if let device { return device }
        let name = (path as NSString).lastPathComponent
        let stem = (name as NSString).deletingPathExtension
        return stem.isEmpty ? name : stem
    }
}

/// A recording that cannot be read at all: the run stops with this message (bad lines and rows do not stop
/// it; they are counted, see ``RecordingInputStats``).
package struct RecordingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input's path.
    package var path: String
    /// The 1-based line, when the problem is on one.
    package var line: Int?
    package var message: String

    package init(path: String, line: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `path:line: message`.
    package var description: String {
        "\(path)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

/// A line (JSONL) or row (CSV) that was skipped, with why.
package struct RecordingIssue: Sendable, Equatable, CustomStringConvertible {
    package var path: String
    /// The 1-based line (a CSV row's first line).
    package var line: Int
    package var message: String

    package var description: String { "\(path):\(line): \(message)" }
}

/// What was read from one input.
package struct RecordingInputStats: Sendable, Equatable {
    package var path: String
    package var format: RecordingFormat
    /// Messages handed out.
    package var messages = 0
    /// Lines or rows skipped as invalid.
    package var invalid = 0
    /// The first few of them (``RecordingReader/maxIssuesPerInput``), in file order.
    package var issues: [RecordingIssue] = []
    /// Lines read (physical lines, blank ones included).
    package var lines = 0
}

/// One recorded message, as a view into the reader's buffers: valid only inside the closure it is given to.
package struct RecordedMessage {
    /// Where the message was addressed.
    package enum Address {
        /// An MQTT topic (JSONL): the router finds the device with the subscriptions' templates.
        case topic(UnsafeRawBufferPointer)
        /// A device id (CSV): there is no topic; the device is known.
        case device(UnsafeRawBufferPointer)
    }

    /// Receive time in the recording, ns since the epoch.
    package var receivedAtNanos: Int64
    package var address: Address
    /// The payload's bytes: the recorded payload (JSONL), or a JSON object built from a CSV row
    /// (`{"temperature":21.5,"humidity":40}`; the row's time is the receive time, and so the event time).
    package var payload: UnsafeRawBufferPointer
    /// Index of the input it came from.
    package var input: Int
    /// Its 1-based line in that input.
    package var line: Int
}

/// One input being read; yields its valid messages in file order.
protocol RecordingSource: AnyObject {
    var stats: RecordingInputStats { get }
    /// Reads the next valid message (counting invalid lines on the way); false at the end of the input.
    func advance() throws(RecordingError) -> Bool
    /// The receive time of the message ``advance()`` read.
    var currentTime: Int64 { get }
    /// Hands the message ``advance()`` read to `body`.
    func withCurrent(input: Int, _ body: (RecordedMessage) -> Void)
}

/// Reads recordings, JSONL or CSV, one message at a time: the front of `vigil replay` (offline into the
/// pipeline, or paced into a broker).
///
/// Several inputs are merged by receive time: each file is read in its own order, and the reader always hands
/// out the earliest head among them (ties go to the earlier input). One recording split into consecutive files
/// reads as one; per-device CSV files covering the same hours interleave as the devices did. Memory is one
/// line (or row) per input, whatever the files' sizes.
///
/// ```swift
/// let reader = try RecordingReader(inputs: [RecordingInput(path: "fleet.jsonl")])
/// while try reader.next({ message in router.route(...) }) {}
/// reader.stats  // per input: messages, invalid lines and the first few of them
/// ```
///
/// ## Bad input
/// A line or row that cannot be read is skipped and counted (with its line number, the first
/// ``maxIssuesPerInput`` of each input kept for the report); the rest of the input is read. Blank lines are
/// ignored. See ``JSONLRecording`` and ``CSVRecording`` for what each format accepts. The reader throws only for
/// what makes a whole input unreadable: a file that cannot be opened or read, gzip, a CSV without a header or
/// without a time column.
package final class RecordingReader {
    /// Issues kept per input for the report (all are counted).
    package static let maxIssuesPerInput = 5

    package let inputs: [RecordingInput]
    /// Whether bad lines are skipped and counted (true) or stop the reading with an error naming the line.
    package let skipBad: Bool
    private let sources: [any RecordingSource]
    /// Min-heap of (head receive time, input) over the inputs that still have a message.
    private var heap: [(time: Int64, input: Int)] = []

    /// Opens every input and reads its first message (and a CSV's header).
    ///
    /// - Parameter skipBad: true skips and counts bad lines (`--skip-bad`); false throws at the first one, a
    ///   ``RecordingError`` with its line.
    package init(inputs: [RecordingInput], skipBad: Bool = true) throws(RecordingError) {
        self.inputs = inputs
        self.skipBad = skipBad
        var sources: [any RecordingSource] = []
        for input in inputs {
            sources.append(try Self.open(input))
        }
        self.sources = sources
        for (index, source) in sources.enumerated() where try advance(source) {
            push((source.currentTime, index))
        }
    }

    /// Per input, what has been read so far.
    package var stats: [RecordingInputStats] { sources.map(\.stats) }

    /// Hands the next message (earliest receive time among the inputs' heads) to `body`; false when every
    /// input is exhausted.
    package func next(_ body: (RecordedMessage) -> Void) throws(RecordingError) -> Bool {
        guard let top = heap.first else { return false }
        let source = sources[top.input]
        source.withCurrent(input: top.input, body)
        if try advance(source) {
            heap[0].time = source.currentTime
            siftDown(0)
        } else {
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(0)
            }
        }
        return true
    }

    /// The source's next message; in strict mode, the first bad line is an error.
    private func advance(_ source: any RecordingSource) throws(RecordingError) -> Bool {
        let more = try source.advance()
        if !skipBad, let issue = source.stats.issues.first {
            throw RecordingError(path: issue.path, line: issue.line, message: issue.message + " (--skip-bad skips and counts bad lines)")
        }
        return more
    }

    private static func open(_ input: RecordingInput) throws(RecordingError) -> any RecordingSource {
        let lower = input.path.lowercased()
        let lines: LineReader
        do {
            lines = try LineReader.open(path: input.path)
        } catch {
            throw RecordingError(path: input.path, message: "cannot open: \(String(cString: strerror(error.errorNumber)))")
        }
        var format = input.format ?? RecordingFormat.guess(path: lower.hasSuffix(".gz") ? String(input.path.dropLast(3)) : input.path)
        if format == nil {
            // Neither name says: a JSONL recording starts with `{` (after any blank lines).
            format = (try? lines.peekFirstByte()).flatMap { $0 } == UInt8(ascii: "{") ? .jsonl : .csv
        }
        switch format! {
        case .jsonl: return JSONLRecording(path: input.path, lines: lines)
        case .csv: return try CSVRecording(path: input.path, lines: lines, device: input.csvDevice)
        }
    }

    private func less(_ a: (time: Int64, input: Int), _ b: (time: Int64, input: Int)) -> Bool {
        a.time < b.time || (a.time == b.time && a.input < b.input)
    }

    private func push(_ element: (time: Int64, input: Int)) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && less(heap[left + 1], heap[left]) { smallest = left + 1 }
            guard less(heap[smallest], heap[parent]) else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}

extension RecordingError {
    init(path: String, readError: LineReader.ReadError) {
        self.init(path: path, message: "cannot read: \(readError.detail ?? String(cString: strerror(readError.errorNumber)))")
    }
}

extension RecordingInputStats {
    /// Counts a skipped line or row, keeping the first few for the report.
    mutating func skip(line: Int, _ message: String) {
        invalid += 1
        if issues.count < RecordingReader.maxIssuesPerInput {
            issues.append(RecordingIssue(path: path, line: line, message: message))
        }
    }
}
