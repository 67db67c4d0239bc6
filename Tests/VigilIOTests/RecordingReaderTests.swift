import Foundation
import Testing
import TestSupport
import VigilIO

/// The recording reader: JSONL and CSV, their time formats, bad lines and rows, several inputs.
@Suite struct RecordingReaderTests {
    /// One message as read, in plain values.
    struct Read: Equatable, CustomStringConvertible {
        var nanos: Int64
        /// `topic:...` or `device:...`.
        var address: String
        var payload: [UInt8]
        var input: Int
        var line: Int

        var text: String { String(decoding: payload, as: UTF8.self) }
        var description: String { "\(nanos) \(address) \(text) [\(input):\(line)]" }
    }

    static func readAll(_ inputs: [RecordingInput]) throws -> (messages: [Read], stats: [RecordingInputStats]) {
        let reader = try RecordingReader(inputs: inputs)
        var messages: [Read] = []
        while try reader.next({ message in
            let address: String
            switch message.address {
            case .topic(let topic): address = "topic:" + String(decoding: topic, as: UTF8.self)
            case .device(let device): address = "device:" + String(decoding: device, as: UTF8.self)
            }
            messages.append(Read(nanos: message.receivedAtNanos, address: address, payload: Array(message.payload), input: message.input, line: message.line))
        }) {}
        return (messages, reader.stats)
    }

    static func readAll(_ path: String, device: String? = nil) throws -> (messages: [Read], stats: RecordingInputStats) {
        let (messages, stats) = try readAll([RecordingInput(path: path, device: device)])
        return (messages, stats[0])
    }

    // MARK: JSONL

    @Test func jsonlTextAndBase64PayloadsWithTheirReceiveTimes() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("fleet.jsonl", #"""
            {"t": 1767225600000, "topic": "devices/a/telemetry", "payload": "{\"ts\": 1767225599.9, \"v\": 1}"}
            {"t":1767225600001.5,"topic":"devices/b/telemetry","payload_b64":"AAECAw==","qos":1,"retain":false}

            {"t": 1767225600002, "topic": "devices/c/telemetry", "payload": "caf\u00e9 \"q\" \\ \n\t \ud83d\ude00"}
            {"t": 1767225600003, "topic": "devices/d/telemetry", "payload_b64": "aGk"}
            {"t": 1.767225600004e12, "topic": "devices/e/telemetry", "payload": ""}
            """# + "\r\n" + #"{"t": 1767225600005, "topic": "devices/f/telemetry", "payload": "é"}"#)
        let (messages, stats) = try Self.readAll(path)
        #expect(stats.messages == 6)
        #expect(stats.invalid == 0)
        #expect(stats.format == .jsonl)
        #expect(messages.map(\.nanos) == [
            1_767_225_600_000_000_000, 1_767_225_600_001_500_000, 1_767_225_600_002_000_000,
            1_767_225_600_003_000_000, 1_767_225_600_004_000_000, 1_767_225_600_005_000_000,
        ])
        #expect(messages.map(\.address) == ["a", "b", "c", "d", "e", "f"].map { "topic:devices/\($0)/telemetry" })
        #expect(messages.map(\.line) == [1, 2, 4, 5, 6, 7])
        #expect(messages[0].text == #"{"ts": 1767225599.9, "v": 1}"#)
        #expect(messages[1].payload == [0, 1, 2, 3])
        #expect(messages[2].text == "café \"q\" \\ \n\t 😀")
        #expect(messages[3].text == "hi")  // base64 without its padding
        #expect(messages[4].payload.isEmpty)
        #expect(messages[5].text == "é")  // a raw UTF-8 line (and the CRLF before it)
    }

    @Test func invalidJSONLLinesAreCountedWithTheirNumbersAndTheRestIsRead() throws {
        let folder = try TemporaryDirectory()
        let good = #"{"t": 1767225600000, "topic": "devices/a/telemetry", "payload": "{\"v\": 1}"}"#
        let bad = [
            "not json",
            #"{"topic": "devices/a/telemetry", "payload": "x"}"#,
            #"{"t": "1767225600000", "topic": "devices/a/telemetry", "payload": "x"}"#,
            #"{"t": true, "topic": "devices/a/telemetry", "payload": "x"}"#,
            #"{"t": -5, "topic": "devices/a/telemetry", "payload": "x"}"#,
            #"{"t": 1767225600000, "payload": "x"}"#,
            #"{"t": 1767225600000, "topic": 7, "payload": "x"}"#,
            #"{"t": 1767225600000, "topic": "", "payload": "x"}"#,
            #"{"t": 1767225600000, "topic": "devices/a/telemetry"}"#,
            #"{"t": 1767225600000, "topic": "devices/a/telemetry", "payload": "x", "payload_b64": "eA=="}"#,
            #"{"t": 1767225600000, "topic": "devices/a/telemetry", "payload_b64": "@@@@"}"#,
            #"{"t": 1767225600000, "topic": "devices/a/telemetry", "payload": {"v": 1}}"#,
            #"[1, 2, 3]"#,
            #"{"t": 1767225600000, "topic": "devices/a/telemetry", "payload": "x"} trailing"#,
        ]
        let path = try folder.write("mixed.jsonl", ([good] + bad + [good]).joined(separator: "\n"))
        let (messages, stats) = try Self.readAll(path)
        #expect(messages.map(\.line) == [1, bad.count + 2])
        #expect(stats.messages == 2)
        #expect(stats.invalid == bad.count)
        #expect(stats.issues.map(\.line) == [2, 3, 4, 5, 6])  // the first five, in order
        let reasons = stats.issues.map(\.message)
        #expect(reasons[0].hasPrefix("not valid JSON"))
        #expect(reasons[1] == "no \"t\" (the receive time, epoch ms)")
        #expect(reasons[2] == "\"t\" must be a number of epoch milliseconds, not a string")
        #expect(reasons[3] == "\"t\" must be a number of epoch milliseconds, not a boolean")
        #expect(reasons[4].hasPrefix("\"t\" is out of range"))
        #expect(stats.issues.allSatisfy { $0.description.hasPrefix(path + ":") })

        // Each reason, line by line.
        let envelope = JSONLEnvelope()
        func outcome(_ line: String) -> JSONLEnvelope.Outcome {
            var line = line
            return line.withUTF8 { envelope.parse(UnsafeRawBufferPointer($0)) }
        }
        #expect(outcome(bad[5]) == .invalid("no \"topic\""))
        #expect(outcome(bad[6]) == .invalid("\"topic\" must be a string, not a number"))
        #expect(outcome(bad[7]) == .invalid("\"topic\" is empty"))
        #expect(outcome(bad[8]) == .invalid("no \"payload\" or \"payload_b64\""))
        #expect(outcome(bad[9]) == .invalid("both \"payload\" and \"payload_b64\": give one"))
        #expect(outcome(bad[10]) == .invalid("\"payload_b64\" is not valid base64"))
        #expect(outcome(bad[11]) == .invalid("\"payload\" must be a string (the payload's text; payload_b64 for bytes), not an object"))
        #expect(outcome(bad[12]) == .invalid("not a JSON object"))
        guard case .invalid(let trailing) = outcome(bad[13]) else {
            Issue.record("trailing data must be invalid")
            return
        }
        #expect(trailing.hasPrefix("not valid JSON"))
        #expect(outcome("   ") == .blank)
    }

    /// The byte scanner and JSONSerialization agree on every line, valid or not: same outcome, same bytes.
    @Test func theByteScannerAgreesWithJSONSerialization() {
        let lines = [
            #"{"t":1767225600000,"topic":"devices/a/telemetry","payload":"{\"v\":1}"}"#,
            #"  {  "payload" : "x" , "topic" : "a/b" , "t" : 0 }  "#,
            #"{"t":1767225600000.25,"topic":"a","payload":"\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"}"#,
            #"{"t":1.5e12,"topic":"a","payload":""}"#,
            #"{"t":1.5E+12,"topic":"a","payload":"x"}"#,
            #"{"t":-0,"topic":"a","payload":"x"}"#,
            #"{"t":0.5,"topic":"a","payload":"x"}"#,
            #"{"t":123456789012345678901234567890,"topic":"a","payload":"x"}"#,
            #"{"t":1e400,"topic":"a","payload":"x"}"#,
            #"{"t":01,"topic":"a","payload":"x"}"#,
            #"{"t":1.,"topic":"a","payload":"x"}"#,
            #"{"t":.5,"topic":"a","payload":"x"}"#,
            #"{"t":1,"topic":"a","payload":"x","extra":{"nested":[1,2,{"a":null}]}}"#,
            #"{"t":1,"topic":"a","payload":"x","extra":[true,false,null,"s"]}"#,
            #"{"t":1,"topic":"a","payload":"x","extra":true,"more":null,"n":-1.5e-3}"#,
            #"{"t":1,"t":2,"topic":"a","payload":"x"}"#,
            #"{"t":1,"topic":"a","topic":"b","payload":"x"}"#,
            #"{"t":1,"topic":"a","payload":"\ud800"}"#,
            #"{"t":1,"topic":"a","payload":"\udc00x"}"#,
            #"{"t":1,"topic":"a","payload":"\x"}"#,
            #"{"t":1,"topic":"a","payload":"\u12"}"#,
            "{\"t\":1,\"topic\":\"a\",\"payload\":\"tab\tinside\"}",  // a raw tab: invalid in JSON
            #"{"t":1,"topic":"a","payload":"x"#,
            #"{"t":1,"topic":"a","payload":"x""#,
            #"{"t":1,"topic":"a","payload":"x"}}"#,
            #"{"t":1 "topic":"a","payload":"x"}"#,
            #"{"t":1,"topic":"a","payload_b64":"eA"}"#,
            #"{"t":1,"topic":"a","payload_b64":"eB=="}"#,
            #"{"t":1,"topic":"a","payload_b64":"e"}"#,
            #"{"t":1,"topic":"a","payload_b64":"e A="}"#,
            #"{"t":1,"topic":"a","payload_b64":"-_8="}"#,
            #"{"t":nul,"topic":"a","payload":"x"}"#,
            #"{"t":tru,"topic":"a","payload":"x"}"#,
            #"{}"#,
            #"{"#,
            #"""#,
            #"17"#,
            #"{"t":1,"topic":"a","payload":"x","\u0074":5}"#,
            #"{"t":9e12,"topic":"a","payload":"x"}"#,
            #"{"t":9000000000000.001,"topic":"a","payload":"x"}"#,
            #"{"t":1,"topic":"a","payload":"x",}"#,  // Foundation takes a trailing comma; the scanner defers to it
        ]
        let fast = JSONLEnvelope()
        let reference = JSONLEnvelope()
        for text in lines {
            var line = text
            line.withUTF8 { bytes in
                let raw = UnsafeRawBufferPointer(bytes)
                let a = fast.parse(raw, allowFastPath: true)
                let b = reference.parse(raw, allowFastPath: false)
                #expect(a == b, "\(text)")
                if case .message = a, a == b {
                    #expect(Array(fast.topic.bytes) == Array(reference.topic.bytes), "\(text)")
                    #expect(Array(fast.payload.bytes) == Array(reference.payload.bytes), "\(text)")
                }
            }
        }
    }

    // MARK: CSV

    /// Every time format a CSV time column may hold, as ns since the epoch.
    @Test(arguments: [
        ("2026-01-05T10:00:00Z", 1_767_607_200_000_000_000),
        ("2026-01-05T10:00:00", 1_767_607_200_000_000_000),  // no zone: UTC
        ("2026-01-05 10:00:00", 1_767_607_200_000_000_000),  // a space for the T
        ("2026-01-05t10:00:00z", 1_767_607_200_000_000_000),
        ("2026-01-05 10:00", 1_767_607_200_000_000_000),  // no seconds
        ("2026-01-05T10:00:00.25", 1_767_607_200_250_000_000),
        ("2026-01-05 10:00:00.123456789Z", 1_767_607_200_123_456_789),
        ("2026-01-05T10:00:00,5", 1_767_607_200_500_000_000),
        ("2026-01-05T12:00:00.5+02:00", 1_767_607_200_500_000_000),
        ("2026-01-05T08:30:00-0130", 1_767_607_200_000_000_000),
        ("2026-01-05 10:00:00+00:00", 1_767_607_200_000_000_000),
        ("1767607200", 1_767_607_200_000_000_000),  // epoch seconds
        ("1767607200.25", 1_767_607_200_250_000_000),
        ("1767607200250", 1_767_607_200_250_000_000),  // epoch ms: 1e11 and up
        ("1767607200250.5", 1_767_607_200_250_500_000),
        ("100000000000", 100_000_000_000_000_000),  // 1e11: milliseconds
        ("1.7676072e9", 1_767_607_200_000_000_000),
        ("0", 0),
    ] as [(String, Int64)])
    func csvTimeFormats(text: String, expected: Int64) {
        var text = text
        #expect(text.withUTF8 { CSVTime.parse(UnsafeRawBufferPointer($0)) } == expected, "\(text)")
    }

    @Test(arguments: [
        "", "yesterday", "2026-13-01 00:00:00", "2026-02-30 00:00:00", "2026-01-05T25:00:00", "2026-01-05T10:00:00+2",
        "2026-01-05", "2026-01-05T10", "2026-01-05T10:00:00.", "2026-01-05T10:00:00 Z", "-5", "1e400", "0x10", "nan",
        "1969-12-31T23:59:59Z", "12:00:00",
        "99999999999",  // just below 1e11, so seconds: 1e20 ns do not fit
    ])
    func csvTimesThatAreRejected(text: String) {
        var text = text
        #expect(text.withUTF8 { CSVTime.parse(UnsafeRawBufferPointer($0)) } == nil, "\(text)")
    }

    @Test func csvRowsBecomeJSONPayloadsOfTheirNumbers() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("pump-7.csv", """
            ,Timestamp,temperature, "flow, l/min" ,status,empty
            0,2026-01-05 10:00:00,21.5,3,ok,
            1,2026-01-05 10:00:10,.5,+2,ok,
            2,2026-01-05 10:00:20,1e3,"4.25",NA,
            3,2026-01-05 10:00:30,-0,,"a, b",
            4,2026-01-05 10:00:40,7,0007,x,
            """)
        let (messages, stats) = try Self.readAll(path)
        #expect(stats.format == .csv)
        #expect(stats.invalid == 0)
        #expect(messages.map(\.address) == Array(repeating: "device:pump-7", count: 5))
        #expect(messages.map(\.nanos) == (0..<5).map { 1_767_607_200_000_000_000 + Int64($0) * 10_000_000_000 })
        #expect(messages.map(\.text) == [
            #"{"temperature":21.5,"flow, l/min":3}"#,
            #"{"temperature":0.5,"flow, l/min":2.0}"#,
            #"{"temperature":1e3,"flow, l/min":4.25}"#,
            #"{"temperature":-0}"#,
            #"{"temperature":7,"flow, l/min":7.0}"#,
        ])
        #expect(messages.map(\.line) == [2, 3, 4, 5, 6])
        // --device names the device instead of the file's stem.
        #expect(try Self.readAll(path, device: "p7").messages.first?.address == "device:p7")
    }

    @Test func csvTimeColumnNamesAndCRLF() throws {
        let folder = try TemporaryDirectory()
        let time = try folder.write("a.csv", "v,TIME\r\n1,1767607200\r\n2,1767607201\r\n")
        let datetime = try folder.write("b.csv", "datetime,v\n2026-01-05T10:00:00Z,1")
        #expect(try Self.readAll(time).messages.map(\.text) == [#"{"v":1}"#, #"{"v":2}"#])
        #expect(try Self.readAll(datetime).messages.map(\.nanos) == [1_767_607_200_000_000_000])
    }

    @Test func badCSVRowsAreCountedWithTheirLinesAndTheRestIsRead() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("d.csv", """
            time,temperature,note
            1767607200,20,ok
            1767607201,21
            1767607202,22,ok,extra
            yesterday,23,ok

            1767607204,,no number
            1767607205,25,"a note
            over two lines"
            1767607206,26,ok
            1767607207,27,"never closed
            """)
        let (messages, stats) = try Self.readAll(path)
        #expect(messages.map(\.text) == [#"{"temperature":20}"#, #"{"temperature":25}"#, #"{"temperature":26}"#])
        #expect(messages.map(\.line) == [2, 8, 10])
        #expect(stats.invalid == 5)
        #expect(stats.issues.map(\.line) == [3, 4, 5, 7, 11])
        #expect(stats.issues.map(\.message) == [
            "2 cells, but the header has 3",
            "4 cells, but the header has 3",
            "cannot read the time 'yesterday' (ISO 8601, or epoch seconds or milliseconds)",
            "no number in the row",
            "a quoted cell is still open at the end of the file",
        ])
    }

    @Test func csvFilesThatCannotBeReadAtAll() throws {
        let folder = try TemporaryDirectory()
        func failure(_ name: String, _ text: String) throws -> String {
            let path = try folder.write(name, text)
            do {
                _ = try RecordingReader(inputs: [RecordingInput(path: path)])
                return "no error"
            } catch {
                return error.description.replacingOccurrences(of: path, with: name)
            }
        }
        #expect(try failure("a.csv", "") == "a.csv: empty file: a CSV recording needs a header")
        #expect(try failure("b.csv", "when,v\n1,2\n") == "b.csv:1: no time column: name one timestamp, time or datetime (the header has when, v)")
        #expect(try failure("c.csv", "\ntime\n1\n") == "c.csv:2: no metric column besides the time column 'time'")
        #expect(try failure("d.csv", "time,\"v\" x\n") == "d.csv:1: bad header: text after a closing quote in cell 2")
        // .gz is read through zlib, which reads a file that is not gzip as it is: one (invalid, counted) line.
        #expect(try failure("e.jsonl.gz", "x") == "no error")
        do {
            _ = try RecordingReader(inputs: [RecordingInput(path: folder.path("missing.jsonl"))])
            Issue.record("a missing file must throw")
        } catch {
            #expect(error.description.hasSuffix("missing.jsonl: cannot open: No such file or directory"))
        }
    }

    // MARK: Several inputs

    @Test func inputsAreMergedByReceiveTimeTiesToTheEarlierInput() throws {
        let folder = try TemporaryDirectory()
        let a = try folder.write("a.csv", "time,v\n10,1\n20,2\n30,3\n")
        let b = try folder.write("b.csv", "time,v\n5,1\n20,2\n25,3\n40,4\n")
        let c = try folder.write("c.jsonl", #"{"t": 15000, "topic": "x/c", "payload": "{}"}"# + "\n")
        let (messages, stats) = try Self.readAll([RecordingInput(path: a), RecordingInput(path: b), RecordingInput(path: c)])
        #expect(messages.map { "\($0.nanos / 1_000_000_000)\($0.address.last!)" } == ["5b", "10a", "15c", "20a", "20b", "25b", "30a", "40b"])
        #expect(messages.map(\.input) == [1, 0, 2, 0, 1, 1, 0, 1])
        #expect(stats.map(\.messages) == [3, 4, 1])
    }

    @Test func aFileWithoutAKnownExtensionIsSniffed() throws {
        let folder = try TemporaryDirectory()
        let jsonl = try folder.write("capture.log", "\n" + #"{"t": 1, "topic": "x/y", "payload": "{}"}"#)
        let csv = try folder.write("sensor.txt", "time,v\n1,2\n")
        #expect(try Self.readAll(jsonl).stats.format == .jsonl)
        let read = try Self.readAll(csv)
        #expect(read.stats.format == .csv)
        #expect(read.messages.map(\.address) == ["device:sensor"])
    }

    // MARK: Lines

    @Test func lineReaderAcrossBufferRefillsTooLongLinesAndABOM() throws {
        let folder = try TemporaryDirectory()
        let long = String(repeating: "x", count: 100)
        let path = try folder.write("lines.txt", "\u{FEFF}first\r\n" + long + "\nshort\n" + String(repeating: "y", count: 40) + "\n\nlast")
        let reader = try LineReader.open(path: path, maxLineBytes: 64, initialCapacity: 16)
        var lines: [String?] = []
        while let line = try reader.nextLine({ $0.map { String(decoding: $0, as: UTF8.self) } }) { lines.append(line) }
        #expect(lines == ["first", nil, "short", String(repeating: "y", count: 40), "", "last"])
        #expect(reader.lineNumber == 6)
    }
}
