import Foundation
import Testing
import VigilCore
import VigilIO

/// The profile loader (`models/*.yaml`): every key, every kind of error with its key and line, and the
/// profiles shipped in `models/`.
@Suite struct DetectorProfileTests {
    /// The repository's `models/` folder.
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models")

    // MARK: Helpers

    /// The issues `parse` throws for `yaml`; records a test issue when it does not throw.
    static func issues(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigError.Issue] {
        do {
            let profile = try DetectorProfile.parse(yaml: yaml, name: "test")
            Issue.record("expected a ConfigError, got \(profile)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.issues
        }
    }

    /// `line: key (kind)` for each issue.
    static func located(_ issues: [ConfigError.Issue]) -> [String] {
        issues.map { "\($0.line.map(String.init) ?? "-"): \($0.key.isEmpty ? "-" : $0.key) (\($0.kind))" }
    }

    /// The single issue `yaml` has; records a test issue when there is not exactly one.
    static func onlyIssue(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigError.Issue {
        let found = issues(yaml, sourceLocation: sourceLocation)
        try #require(found.count == 1, "expected one issue, got \(located(found))", sourceLocation: sourceLocation)
        return found[0]
    }

    /// The dotted path of every `key:` line of a block-style YAML file (flow mappings are not followed).
    static func dottedKeys(ofBlockYAML text: String) -> [String] {
        var path: [(indent: Int, key: String)] = []
        var keys: [String] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " })
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let colon = trimmed.firstIndex(of: ":") else { continue }
            let indent = line.count - trimmed.count
            while let last = path.last, last.indent >= indent { path.removeLast() }
            path.append((indent, String(trimmed[..<colon])))
            keys.append(path.map(\.key).joined(separator: "."))
        }
        return keys
    }

    // MARK: Values

    @Test func anEmptyMappingIsTheBuiltInDefault() throws {
        #expect(try DetectorProfile.parse(yaml: "{}\n", name: "lab") == DetectorProfile(name: "lab"))
        #expect(try DetectorProfile.parse(yaml: "# just a note\n{}\n", name: "lab").name == "lab")
    }

    @Test func everyKeyIsParsed() throws {
        let yaml = """
            description: "Lab rigs"
            metrics: [temperature, meta.pressure, flow]
            threshold: 0.9999
            episodes:
              fire_after: 2
              resolve_after: 4
            detectors:
              ewma:
                metrics: [temperature, flow]
                half_life: 12.5
                warmup: 10
                min_std: 0.01
                clip: 2.5
                alerts: false
              change:
                enabled: true
                metrics: [flow]
                k: 0.75
                clip: 3
              seasonal:
                metrics: all
                period_s: 604800
                buckets: 168
                half_life_periods: 4
                min_samples: 6
                min_std: 0.5
              flatline:
                metrics: [meta.pressure]
                min_run: 8
                half_life: 200
                warmup: 20
              rate:
                window_s: 300
                half_life: 12
                warmup: 3
              silence:
                factor: 4
                min_s: 60
                max_s: 600
                half_life: 20
                warmup: 5
              payload_size:
                half_life: 40
                warmup: 10
                min_std: 8
                clip: 4
                max_bytes: 512
            """
        let expected = DetectorProfile(
            name: "lab",
            description: "Lab rigs",
            metrics: ["temperature", "meta.pressure", "flow"],
            detectorMetrics: [.ewma: ["temperature", "flow"], .change: ["flow"], .flatline: ["meta.pressure"]],
            threshold: 0.9999,
            episodes: .init(fireAfter: 2, resolveAfter: 4),
            ewma: .init(halfLife: 12.5, warmup: 10, minStd: 0.01, clip: 2.5),
            ewmaAlerts: false,
            change: .init(k: 0.75, clip: 3),
            seasonal: .init(period: 604_800, buckets: 168, halfLifePeriods: 4, minSamples: 6, minStd: 0.5),
            flatline: .init(minRun: 8, halfLife: 200, warmup: 20),
            rate: .init(window: 300, halfLife: 12, warmup: 3),
            silence: .init(factor: 4, minSilence: 60, maxSilence: 600, halfLife: 20, warmup: 5),
            payloadSize: .init(baseline: .init(halfLife: 40, warmup: 10, minStd: 8, clip: 4), maxBytes: 512)
        )
        #expect(try DetectorProfile.parse(yaml: yaml, name: "lab") == expected)
    }

    @Test func floatsFollowTheCoreSchema() throws {
        let yaml = """
            threshold: .5
            detectors:
              ewma:
                half_life: 20
                min_std: 1E-3
            """
        let profile = try DetectorProfile.parse(yaml: yaml, name: "test")
        #expect(profile.threshold == 0.5)
        #expect(profile.ewma == EWMADetector.Parameters(halfLife: 20, warmup: 30, minStd: 0.001))
    }

    @Test func aDetectorsSectionTurnsItOnAndEnabledFalseTurnsItOff() throws {
        let yaml = """
            detectors:
              seasonal: {}
              change: {enabled: false, k: 2}
              flatline: {enabled: true}
              rate:
              silence: {enabled: false}
              payload_size: {max_bytes: 100}
            """
        let profile = try DetectorProfile.parse(yaml: yaml, name: "test")
        #expect(profile.seasonal == SeasonalDetector.Parameters())
        #expect(profile.change == nil)
        #expect(profile.flatline == FlatlineDetector.Parameters())
        // An empty section (`rate:`) is the built-in default, as in the config.
        #expect(profile.rate == RateDetector.Parameters())
        #expect(profile.silence == nil)
        #expect(profile.payloadSize == DetectorProfile.PayloadSizeParameters(maxBytes: 100))
        // Null leaves seasonal at its default: off.
        #expect(try DetectorProfile.parse(yaml: "detectors:\n  seasonal:\n", name: "test").seasonal == nil)
    }

    @Test func aTurnedOffDetectorStillHasItsKeysChecked() throws {
        let issue = try Self.onlyIssue("detectors:\n  change:\n    enabled: false\n    k: -1\n")
        #expect(issue == ConfigError.Issue(kind: .outOfRange, key: "detectors.change.k", line: 4, message: "must be greater than 0, got -1.0"))
    }

    @Test(arguments: [
        ("detectors:\n  change: false", "detectors.change", "expected a mapping, found the boolean false (write `{enabled: false}` to turn it off)"),
        ("detectors:\n  seasonal: true", "detectors.seasonal", "expected a mapping, found the boolean true (write `{enabled: true}` to turn it on)"),
    ])
    func aBooleanForADetectorSaysWhatToWrite(yaml: String, key: String, message: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue == ConfigError.Issue(kind: .typeMismatch, key: key, line: 2, message: message))
    }

    @Test func metricsAreAllOrAList() throws {
        #expect(try DetectorProfile.parse(yaml: "metrics: all\n", name: "test").metrics == nil)
        let listed = try DetectorProfile.parse(yaml: "metrics:\n  - temperature\n  - battery.voltage\n", name: "test")
        #expect(listed.metrics == ["temperature", "battery.voltage"])
    }

    @Test(arguments: [
        ("metrics: []", "metrics", 1, ConfigError.Kind.outOfRange, "must list at least one metric, or be `all` for every metric"),
        (
            "metrics: temperature", "metrics", 1, .invalidValue,
            "must be `all` or a list of metric names, got \"temperature\" (a list of one is `[temperature]`)"
        ),
        ("metrics: 5", "metrics", 1, .typeMismatch, "expected `all` or a list of metric names, found the integer 5"),
        ("metrics: {temperature: 1}", "metrics", 1, .typeMismatch, "expected `all` or a list of metric names, found a mapping"),
        ("metrics:\n  - co2\n  - 5", "metrics[1]", 3, .typeMismatch, "expected a string, found the integer 5 (quote it to make it a string)"),
        ("metrics:\n  - co2\n  - co2", "metrics[1]", 3, .invalidValue, "\"co2\" is already listed on line 2"),
        (
            "metrics: [a..b]", "metrics[0]", 1, .invalidValue,
            "must be a dotted field name such as `ts` or `meta.time`, with no empty part, got \"a..b\""
        ),
    ])
    func badMetricsNameTheKeyAndLine(yaml: String, key: String, line: Int, kind: ConfigError.Kind, message: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue == ConfigError.Issue(kind: kind, key: key, line: line, message: message))
    }

    @Test func aDetectorJudgesOnlyTheProfilesMetrics() throws {
        let yaml = """
            metrics: [power, voltage]
            detectors:
              flatline:
                metrics:
                  - voltage
                  - current
              seasonal:
                metrics: all
            """
        let issue = try Self.onlyIssue(yaml)
        let message = "\"current\" is not one of the profile's metrics (line 1); a detector judges only those"
        #expect(issue == ConfigError.Issue(kind: .invalidValue, key: "detectors.flatline.metrics[1]", line: 6, message: message))

        // `all` is the profile's metrics; with `metrics: all` on the profile any list goes.
        let fine = try DetectorProfile.parse(yaml: "detectors:\n  flatline:\n    metrics: [current]\n  change:\n    metrics: all\n", name: "t")
        #expect(fine.detectorMetrics == [.flatline: ["current"]])
        #expect(fine.judges(metric: "current", with: .flatline))
        #expect(!fine.judges(metric: "power", with: .flatline))
        #expect(fine.judges(metric: "power", with: .change))
    }

    // MARK: Unknown and duplicate keys

    @Test func unknownKeysAtEveryLevelAreReportedWithTheirLines() {
        let yaml = """
            metric: all
            name: lab
            detectors:
              ewma:
                alpha: 0.1
                enabled: false
              seasonl: {}
              rate:
                window: 60
            episodes:
              fire: 2
            """
        let found = Self.issues(yaml)
        #expect(
            Self.located(found) == [
                "1: metric (unknown key)",
                "2: name (unknown key)",
                "5: detectors.ewma.alpha (unknown key)",
                "6: detectors.ewma.enabled (unknown key)",
                "7: detectors.seasonl (unknown key)",
                "9: detectors.rate.window (unknown key)",
                "11: episodes.fire (unknown key)",
            ]
        )
        #expect(
            found.map(\.message) == [
                "unknown key; did you mean `metrics`?",
                "unknown key; a profile is named by its file: models/<name>.yaml",
                "unknown key; expected one of: metrics, half_life, warmup, min_std, clip, alerts",
                "unknown key; the EWMA baseline always runs (the change detector reads it); `alerts: false` stops its events",
                "unknown key; did you mean `seasonal`?",
                "unknown key; did you mean `window_s`?",
                "unknown key; expected one of: fire_after, resolve_after",
            ]
        )
    }

    @Test func duplicateKeysAreErrorsAtTheSecondOccurrence() {
        let yaml = """
            threshold: 0.9
            detectors:
              rate:
                window_s: 60
                window_s: 30
            threshold: 0.99
            """
        let found = Self.issues(yaml)
        #expect(Self.located(found) == ["5: detectors.rate.window_s (duplicate key)", "6: threshold (duplicate key)"])
        #expect(found[1].message == "duplicate key; it is already set on line 1")
    }

    // MARK: Types

    @Test(arguments: [
        ("detectors:\n  ewma:\n    half_life: fast", "detectors.ewma.half_life", 3, "expected a number, found the string \"fast\""),
        (
            "threshold: \"0.5\"", "threshold", 1,
            "expected a number, found the string \"0.5\" (quoted values are strings; remove the quotes)"
        ),
        (
            "episodes:\n  fire_after: 1.0", "episodes.fire_after", 2,
            "expected an integer, found the float 1.0 (write it without a decimal point or exponent)"
        ),
        (
            "detectors:\n  ewma:\n    alerts: no", "detectors.ewma.alerts", 3,
            "expected true or false, found the string \"no\" (only true and false are booleans)"
        ),
        ("detectors:\n  flatline:\n    enabled: 0", "detectors.flatline.enabled", 3, "expected true or false, found the integer 0"),
        ("description: 42", "description", 1, "expected a string, found the integer 42 (quote it to make it a string)"),
        ("detectors: [ewma]", "detectors", 1, "expected a mapping, found a list"),
        ("episodes: 3", "episodes", 1, "expected a mapping, found the integer 3"),
        ("detectors:\n  rate:\n    warmup:", "detectors.rate.warmup", 3, "expected an integer, found null; give a value or leave the key out"),
    ])
    func wrongTypesNameTheKeyAndLine(yaml: String, key: String, line: Int, message: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue == ConfigError.Issue(kind: .typeMismatch, key: key, line: line, message: message))
    }

    // MARK: Ranges

    struct RangeCase: Sendable, CustomTestStringConvertible {
        /// The section under `detectors`, or "" for a top-level key, or "episodes".
        var section: String
        var key: String
        var value: String
        var message: String
        var testDescription: String { "\(section).\(key): \(value)" }

        var yaml: String {
            switch section {
            case "": "\(key): \(value)\n"
            case "episodes": "episodes:\n  \(key): \(value)\n"
            default: "detectors:\n  \(section):\n    \(key): \(value)\n"
            }
        }

        var dottedKey: String {
            switch section {
            case "": key
            case "episodes": "episodes.\(key)"
            default: "detectors.\(section).\(key)"
            }
        }

        var line: Int { section.isEmpty ? 1 : section == "episodes" ? 2 : 3 }
    }

    @Test(arguments: [
        RangeCase(section: "", key: "threshold", value: "1", message: "must be greater than 0 and less than 1, got 1.0"),
        RangeCase(section: "", key: "threshold", value: "0.0", message: "must be greater than 0 and less than 1, got 0.0"),
        RangeCase(section: "", key: "threshold", value: ".nan", message: "must be greater than 0 and less than 1, got nan"),
        RangeCase(section: "episodes", key: "fire_after", value: "0", message: "must be between 1 and 65535, got 0"),
        RangeCase(section: "episodes", key: "resolve_after", value: "0", message: "must be between 1 and 65535, got 0"),
        RangeCase(section: "episodes", key: "resolve_after", value: "65536", message: "must be between 1 and 65535, got 65536"),
        RangeCase(section: "ewma", key: "half_life", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "ewma", key: "half_life", value: ".inf", message: "must be greater than 0, got inf"),
        RangeCase(section: "ewma", key: "warmup", value: "1", message: "must be between 2 and 2147483647, got 1"),
        RangeCase(section: "ewma", key: "min_std", value: "-1e-6", message: "must be at least 0, got -1e-06"),
        RangeCase(section: "ewma", key: "clip", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "change", key: "k", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "change", key: "clip", value: "-4", message: "must be greater than 0, got -4.0"),
        RangeCase(section: "seasonal", key: "period_s", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "seasonal", key: "buckets", value: "0", message: "must be between 1 and 10080, got 0"),
        RangeCase(section: "seasonal", key: "buckets", value: "10081", message: "must be between 1 and 10080, got 10081"),
        RangeCase(section: "seasonal", key: "half_life_periods", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "seasonal", key: "min_samples", value: "0", message: "must be between 1 and 2147483647, got 0"),
        RangeCase(section: "seasonal", key: "min_std", value: "-1", message: "must be at least 0, got -1.0"),
        RangeCase(section: "flatline", key: "min_run", value: "1", message: "must be between 2 and 2147483647, got 1"),
        RangeCase(section: "flatline", key: "half_life", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "flatline", key: "warmup", value: "0", message: "must be between 1 and 2147483647, got 0"),
        RangeCase(section: "rate", key: "window_s", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "rate", key: "half_life", value: "-1", message: "must be greater than 0, got -1.0"),
        RangeCase(section: "rate", key: "warmup", value: "0", message: "must be between 1 and 2147483647, got 0"),
        RangeCase(section: "silence", key: "factor", value: "0.5", message: "must be at least 1, got 0.5"),
        RangeCase(section: "silence", key: "min_s", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "silence", key: "max_s", value: ".inf", message: "must be greater than 0, got inf"),
        RangeCase(section: "silence", key: "half_life", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "silence", key: "warmup", value: "0", message: "must be between 1 and 2147483647, got 0"),
        RangeCase(section: "payload_size", key: "half_life", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "payload_size", key: "warmup", value: "1", message: "must be between 2 and 2147483647, got 1"),
        RangeCase(section: "payload_size", key: "min_std", value: "-4", message: "must be at least 0, got -4.0"),
        RangeCase(section: "payload_size", key: "clip", value: "0", message: "must be greater than 0, got 0.0"),
        RangeCase(section: "payload_size", key: "max_bytes", value: "-1", message: "must be at least 0, got -1"),
    ])
    func outOfRangeValuesSayTheAllowedRange(_ testCase: RangeCase) throws {
        let issue = try Self.onlyIssue(testCase.yaml)
        #expect(issue == ConfigError.Issue(kind: .outOfRange, key: testCase.dottedKey, line: testCase.line, message: testCase.message))
    }

    @Test func silenceMinimumMustNotExceedMaximum() throws {
        let both = try Self.onlyIssue("detectors:\n  silence:\n    min_s: 600\n    max_s: 300\n")
        #expect(
            both == ConfigError.Issue(
                kind: .outOfRange, key: "detectors.silence.max_s", line: 4,
                message: "must be at least detectors.silence.min_s (600.0), got 300.0"
            )
        )
        let minimumOnly = try Self.onlyIssue("detectors:\n  silence:\n    min_s: 7200\n")
        #expect(
            minimumOnly == ConfigError.Issue(
                kind: .outOfRange, key: "detectors.silence.min_s", line: 3,
                message: "must be at most detectors.silence.max_s (3600.0, the default), got 7200.0"
            )
        )
    }

    // MARK: Documents

    @Test(arguments: ["", "# nothing but a comment\n", "---\n", "~\n"])
    func emptyDocumentsAreErrors(yaml: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue.kind == .emptyDocument)
        #expect(issue.line == nil)
        #expect(issue.message.hasSuffix("it needs a mapping of profile settings (`{}` for every default)"))
    }

    @Test func aNonMappingRootIsAnError() throws {
        let issue = try Self.onlyIssue("- ewma\n")
        let message = "the top level must be a mapping of profile settings, found a list"
        #expect(issue == ConfigError.Issue(kind: .typeMismatch, key: "", line: 1, message: message))
    }

    @Test func syntaxErrorsReportTheirLine() throws {
        let issue = try Self.onlyIssue("detectors:\n  rate: {window_s: 60\n")
        #expect(issue.kind == .syntax)
        #expect(issue.line == 3)
    }

    @Test func allIssuesAreCollectedInLineOrder() {
        let yaml = """
            threshold: 2
            metrics: [a, a]
            episodes:
              fire_after: 0
            detectors:
              ewma: {colour: blue}
              seasonal:
                buckets: many
            """
        #expect(
            Self.located(Self.issues(yaml)) == [
                "1: threshold (out of range)",
                "2: metrics[1] (invalid value)",
                "4: episodes.fire_after (out of range)",
                "6: detectors.ewma.colour (unknown key)",
                "8: detectors.seasonal.buckets (type mismatch)",
            ]
        )
    }

    @Test func loadNamesTheFileAndTheLineOfEachProblem() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-profile-\(UUID().uuidString).yaml").path
        try "threshold: 0.9\ndetectors:\n  rate:\n    window_s: 0\n  silence: {factr: 3}\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: ConfigError.self) { try DetectorProfile.load(path: path, name: "lab") }
        #expect(error.source == path)
        #expect(
            error.description == """
                \(path):4: detectors.rate.window_s: must be greater than 0, got 0.0
                \(path):5: detectors.silence.factr: unknown key; did you mean `factor`?
                """
        )
    }

    @Test func anUnreadableFileIsAConfigError() throws {
        let error = try #require(throws: ConfigError.self) { try DetectorProfile.load(path: "/nonexistent/lab.yaml", name: "lab") }
        #expect(error.issues == [.init(kind: .unreadableFile, key: "", line: nil, message: "cannot read the file: No such file or directory")])
    }

    // MARK: The shipped profiles

    @Test(arguments: ["default", "environment-sensor", "smart-meter"])
    func theShippedProfilesLoad(name: String) throws {
        let profile = try DetectorProfile.load(path: Self.models.appendingPathComponent("\(name).yaml").path, name: name)
        #expect(profile.name == name)
        #expect(!profile.description.isEmpty)
    }

    @Test func defaultYAMLIsTheBuiltInDefault() throws {
        let path = Self.models.appendingPathComponent("default.yaml").path
        var profile = try DetectorProfile.load(path: path, name: "default")
        profile.description = ""
        #expect(profile == DetectorProfile())

        // Every key the loader knows is written out.
        let keys = Set(Self.dottedKeys(ofBlockYAML: try String(contentsOfFile: path, encoding: .utf8)))
        let baseline = ["half_life", "warmup", "min_std", "clip"]
        var expected = ["description", "metrics", "threshold", "episodes", "episodes.fire_after", "episodes.resolve_after", "detectors"]
        let detectors: [(String, [String])] = [
            ("ewma", ["metrics", "alerts"] + baseline),
            ("change", ["enabled", "metrics", "k", "clip"]),
            ("seasonal", ["enabled", "metrics", "period_s", "buckets", "half_life_periods", "min_samples", "min_std"]),
            ("flatline", ["enabled", "metrics", "min_run", "half_life", "warmup"]),
            ("rate", ["enabled", "window_s", "half_life", "warmup"]),
            ("silence", ["enabled", "factor", "min_s", "max_s", "half_life", "warmup"]),
            ("payload_size", ["enabled", "max_bytes"] + baseline),
        ]
        for (detector, detectorKeys) in detectors {
            expected.append("detectors.\(detector)")
            expected += detectorKeys.map { "detectors.\(detector).\($0)" }
        }
        #expect(keys == Set(expected))
    }

    @Test func environmentSensorJudgesTheDayAndTheSlowRates() throws {
        let path = Self.models.appendingPathComponent("environment-sensor.yaml").path
        let profile = try DetectorProfile.load(path: path, name: "environment-sensor")
        #expect(profile.metrics == ["temperature", "humidity", "co2"])
        #expect(profile.seasonal?.period == 86_400)
        #expect(profile.seasonal?.buckets == 24)
        // Slower than the default's one-minute windows and 30 s silences.
        #expect((profile.rate?.window ?? 0) > RateDetector.Parameters().window)
        #expect((profile.silence?.minSilence ?? 0) > SilenceDetector.Parameters().minSilence)
    }

    @Test func smartMeterIsStrictAndLeavesCountersOut() throws {
        let path = Self.models.appendingPathComponent("smart-meter.yaml").path
        let profile = try DetectorProfile.load(path: path, name: "smart-meter")
        let metrics = try #require(profile.metrics)
        #expect(metrics.contains("power") && metrics.contains("voltage"))
        #expect(!metrics.contains { $0.contains("energy") || $0.contains("kwh") })
        #expect(profile.detectorMetrics[.flatline] == ["voltage"])
        #expect(profile.flatline != nil)
        #expect((profile.payloadSize?.maxBytes ?? 0) > 0)
        let silence = try #require(profile.silence)
        let loose = SilenceDetector.Parameters()
        #expect(silence.factor < loose.factor && silence.maxSilence < loose.maxSilence)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("Cumulative counters"))
        #expect(text.contains("delta transform"))
    }
}
