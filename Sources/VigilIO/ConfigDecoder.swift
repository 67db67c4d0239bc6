import Glibc

/// The bytes of the file at `path`.
///
/// Plain POSIX calls rather than Foundation, so that the error says what the system said
/// ("No such file or directory", "Is a directory", "Permission denied").
func readConfigFile(path: String) throws(ConfigError) -> [UInt8] {
    func failure(_ errorNumber: Int32) -> ConfigError {
        let reason = String(cString: strerror(errorNumber))
        let issue = ConfigError.Issue(
            kind: .unreadableFile,
            key: "",
            line: nil,
            message: "cannot read the file: \(reason)"
        )
        return ConfigError(source: path, issues: [issue])
    }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure(errno) }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count == 0 { return bytes }
        if count < 0 {
            if errno == EINTR { continue }
            throw failure(errno)
        }
        bytes.append(contentsOf: chunk[..<count])
    }
}


/// The root node of a YAML document, with syntax errors, extra documents and empty files reported as
/// ``ConfigError``s. `needs` completes "the file is empty; it needs ...".
func loadYAMLRoot(bytes: [UInt8], source: String, needs: String) throws(ConfigError) -> YAMLNode {
    let document: YAMLDocument?
    do {
        document = try YAMLDocument.load(bytes: bytes)
    } catch {
        let kind: ConfigError.Kind =
            switch error.kind {
            case .syntax, .unsupported: .syntax
            case .multipleDocuments: .multipleDocuments
            }
        throw ConfigError(
            source: source,
            issues: [.init(kind: kind, key: "", line: error.line, message: error.message)]
        )
    }
    guard let document else {
        let issue = ConfigError.Issue(
            kind: .emptyDocument,
            key: "",
            line: nil,
            message: "the file is empty; it needs \(needs)"
        )
        throw ConfigError(source: source, issues: [issue])
    }
    if case .scalar(let scalar) = document.root.content, scalar.value == .null {
        // A bare `---`, or `~`: a document with nothing in it.
        let issue = ConfigError.Issue(
            kind: .emptyDocument,
            key: "",
            line: nil,
            message: "the document is empty; it needs \(needs)"
        )
        throw ConfigError(source: source, issues: [issue])
    }
    return document.root
}

/// A value found in the document, with what is needed to report a problem with it.
struct ConfigField {
    /// Dotted path, such as `broker.port` or `subscriptions[0]`.
    var key: String
    /// The line to report: the key's line for a mapping value, the node's own line otherwise.
    var line: Int
    /// The value.
    var node: YAMLNode
}

/// The keys of one YAML mapping, checked for duplicates and unknown names.
struct ConfigMapping {
    /// The mapping's own field (its key, and the line reported for a missing child).
    var field: ConfigField
    private var fields: [String: ConfigField] = [:]

    /// - Parameters:
    ///   - known: The keys the mapping may hold.
    ///   - rejected: Keys it may not hold that people are likely to write (a setting that moved, a switch a
    ///     detector does not have), each with the message that says what to do instead.
    init(
        field: ConfigField,
        pairs: [YAMLNode.Pair],
        known: [String],
        rejected: [String: String] = [:],
        decoder: inout ConfigDecoder
    ) {
        self.field = field
        var firstLines: [String: Int] = [:]
        for pair in pairs {
            guard case .scalar(let keyScalar) = pair.key.content else {
                decoder.report(
                    .typeMismatch,
                    field.key,
                    pair.key.line,
                    "keys must be strings, found \(describe(pair.key))"
                )
                continue
            }
            let name = keyScalar.text
            let key = field.key.isEmpty ? name : "\(field.key).\(name)"
            if let firstLine = firstLines[name] {
                decoder.report(
                    .duplicateKey,
                    key,
                    pair.key.line,
                    "duplicate key; it is already set on line \(firstLine)"
                )
                continue
            }
            firstLines[name] = pair.key.line
            guard known.contains(name) else {
                let message = rejected[name].map { "unknown key; \($0)" } ?? unknownKeyMessage(name, known: known)
                decoder.report(.unknownKey, key, pair.key.line, message)
                continue
            }
            fields[name] = ConfigField(key: key, line: pair.key.line, node: pair.value)
        }
    }

    subscript(name: String) -> ConfigField? { fields[name] }
}

/// Walks a document (a ``VigilConfig``, a ``DetectorProfile``), filling in its value and collecting every
/// issue on the way.
///
/// The readers of values are here; each document type adds the walk of its sections in an extension
/// (`VigilConfig+Loading.swift`, `DetectorProfile+Loading.swift`). Each reader leaves its target at the default
/// when the key is absent or its value is wrong, and returns whether the value it holds afterwards can be
/// trusted for cross-key checks.
struct ConfigDecoder {
    private(set) var issues: [ConfigError.Issue] = []

    mutating func report(_ kind: ConfigError.Kind, _ key: String, _ line: Int?, _ message: String) {
        issues.append(ConfigError.Issue(kind: kind, key: key, line: line, message: message))
    }


    // MARK: Values

    /// The mapping for a section, or `nil` when the section is absent, `null`, or not a mapping
    /// (reported here).
    mutating func section(_ field: ConfigField?, known: [String], rejected: [String: String] = [:]) -> ConfigMapping? {
        guard let field else { return nil }
        switch field.node.content {
        case .mapping(let pairs):
            return ConfigMapping(field: field, pairs: pairs, known: known, rejected: rejected, decoder: &self)
        case .scalar(let scalar) where scalar.value == .null:
            // `broker:` with every key commented out: the section's defaults.
            return nil
        default:
            report(.typeMismatch, field.key, field.line, "expected a mapping, found \(describe(field.node))")
            return nil
        }
    }

    /// The scalar in `field`, or `nil` after reporting why there is none: a collection, a
    /// malformed tagged scalar, or (unless `allowNull`) `null`.
    mutating func scalarValue(
        _ field: ConfigField,
        expected: String,
        allowNull: Bool = false
    ) -> YAMLScalar.Value? {
        guard case .scalar(let scalar) = field.node.content else {
            report(.typeMismatch, field.key, field.line, "expected \(expected), found \(describe(field.node))")
            return nil
        }
        let value = scalar.value
        switch value {
        case .invalid(let message):
            report(.invalidValue, field.key, field.line, message)
            return nil
        case .null where !allowNull:
            report(
                .typeMismatch,
                field.key,
                field.line,
                "expected \(expected), found null; give a value or leave the key out"
            )
            return nil
        default:
            return value
        }
    }

    mutating func mismatch(_ field: ConfigField, expected: String, hint: String? = nil) {
        var message = "expected \(expected), found \(describe(field.node))"
        if let hint { message += " (\(hint))" }
        report(.typeMismatch, field.key, field.line, message)
    }

    /// The integer in `field`, type-checked only.
    mutating func integer(_ field: ConfigField) -> Int? {
        switch scalarValue(field, expected: "an integer") {
        case .int(let value)?:
            return value
        case .string(let text)? where Int(text) != nil:
            mismatch(field, expected: "an integer", hint: "quoted values are strings; remove the quotes")
        case .float(let value)? where value.isFinite && value.rounded() == value:
            mismatch(field, expected: "an integer", hint: "write it without a decimal point or exponent")
        case nil:
            break
        default:
            mismatch(field, expected: "an integer")
        }
        return nil
    }

    @discardableResult
    mutating func read(_ target: inout Int, _ field: ConfigField?, range: ClosedRange<Int>) -> Bool {
        read(&target, field, requirement: "must be between \(range.lowerBound) and \(range.upperBound)", range.contains)
    }

    @discardableResult
    mutating func read(_ target: inout Int, _ field: ConfigField?, range: PartialRangeFrom<Int>) -> Bool {
        read(&target, field, requirement: "must be at least \(range.lowerBound)", range.contains)
    }

    mutating func read(
        _ target: inout Int,
        _ field: ConfigField?,
        requirement: String,
        _ isAllowed: (Int) -> Bool
    ) -> Bool {
        guard let field else { return true }
        guard let value = integer(field) else { return false }
        guard isAllowed(value) else {
            report(.outOfRange, field.key, field.line, "\(requirement), got \(value)")
            return false
        }
        target = value
        return true
    }

    @discardableResult
    mutating func read(
        _ target: inout Double,
        _ field: ConfigField?,
        requirement: String,
        _ isAllowed: (Double) -> Bool
    ) -> Bool {
        guard let field else { return true }
        let number: Double
        switch scalarValue(field, expected: "a number") {
        case .int(let value)?:
            number = Double(value)
        case .float(let value)?:
            number = value
        case .string(let text)? where YAMLScalar.resolvePlain(text).isNumber:
            mismatch(field, expected: "a number", hint: "quoted values are strings; remove the quotes")
            return false
        case nil:
            return false
        default:
            mismatch(field, expected: "a number")
            return false
        }
        guard isAllowed(number) else {
            report(.outOfRange, field.key, field.line, "\(requirement), got \(number)")
            return false
        }
        target = number
        return true
    }

    @discardableResult
    mutating func read(_ target: inout Bool, _ field: ConfigField?) -> Bool {
        guard let field else { return true }
        switch scalarValue(field, expected: "true or false") {
        case .bool(let value)?:
            target = value
            return true
        case .string(let text)?:
            let quoted = YAMLScalar.resolvePlain(text) == .bool(text.lowercased() == "true")
            let hint = quoted ? "quoted values are strings; remove the quotes" : "only true and false are booleans"
            mismatch(field, expected: "true or false", hint: hint)
        case nil:
            break
        default:
            mismatch(field, expected: "true or false")
        }
        return false
    }

    /// The string in `field`, type-checked only; `null` gives `.some(nil)` when `allowNull`.
    mutating func string(_ field: ConfigField, allowNull: Bool) -> String?? {
        switch scalarValue(field, expected: "a string", allowNull: allowNull) {
        case .string(let text)?:
            return .some(text)
        case .null?:
            return .some(nil)
        case nil:
            return nil
        default:
            mismatch(field, expected: "a string", hint: "quote it to make it a string")
            return nil
        }
    }

    /// Reads a string; `check` returns what is wrong with it, or `nil`.
    @discardableResult
    mutating func read(_ target: inout String, _ field: ConfigField?, check: (String) -> String?) -> Bool {
        guard let field, let text = string(field, allowNull: false) ?? nil else { return field == nil }
        if let problem = check(text) {
            report(.invalidValue, field.key, field.line, problem)
            return false
        }
        target = text
        return true
    }

    /// Reads an optional string: `null` leaves it unset.
    @discardableResult
    mutating func read(_ target: inout String?, _ field: ConfigField?, check: (String) -> String?) -> Bool {
        guard let field else { return true }
        guard let value = string(field, allowNull: true) else { return false }
        guard let text = value else {
            target = nil
            return true
        }
        if let problem = check(text) {
            report(.invalidValue, field.key, field.line, problem)
            return false
        }
        target = text
        return true
    }

    /// Reads one of an enum's raw values.
    @discardableResult
    mutating func read<Value: RawRepresentable & CaseIterable>(
        _ target: inout Value,
        _ field: ConfigField?
    ) -> Bool where Value.RawValue == String {
        guard let field, let text = string(field, allowNull: false) ?? nil else { return field == nil }
        guard let value = Value(rawValue: text) else {
            report(.invalidValue, field.key, field.line, "must be \(Self.choices(Value.self)), got \"\(text)\"")
            return false
        }
        target = value
        return true
    }

    static func choices<Value: RawRepresentable & CaseIterable>(_: Value.Type) -> String
    where Value.RawValue == String {
        let names = Value.allCases.map { "\"\($0.rawValue)\"" }
        return names.count <= 2 ? names.joined(separator: " or ") : "one of " + names.joined(separator: ", ")
    }

    /// A dotted field name such as `ts` or `meta.time`: non-empty parts separated by dots.
    static func checkDottedName(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            return "must be a dotted field name such as `ts` or `meta.time`, with no empty part, got \"\(name)\""
        }
        return nil
    }
}

extension YAMLScalar.Value {
    fileprivate var isNumber: Bool {
        switch self {
        case .int, .float: true
        default: false
        }
    }
}

/// Names what a node holds, for "expected X, found Y" messages.
func describe(_ node: YAMLNode) -> String {
    switch node.content {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .scalar(let scalar):
        switch scalar.value {
        case .null: return "null"
        case .bool(let value): return "the boolean \(value)"
        case .int(let value): return "the integer \(value)"
        case .float: return "the float \(scalar.text)"
        case .string(let text): return "the string \"\(text)\""
        case .invalid: return "`\(scalar.text)`"
        }
    }
}

/// "unknown key", with the closest known key when one is a likely typo, else the list of keys.
func unknownKeyMessage(_ name: String, known: [String]) -> String {
    let distances = known.map { (key: $0, distance: editDistance($0, name)) }
    if let best = distances.min(by: { $0.distance < $1.distance }), best.distance < name.count,
        best.distance <= max(2, name.count / 3)
    {
        return "unknown key; did you mean `\(best.key)`?"
    }
    return "unknown key; expected one of: " + known.joined(separator: ", ")
}

/// Levenshtein distance over characters.
func editDistance(_ lhs: String, _ rhs: String) -> Int {
    let left = Array(lhs)
    let right = Array(rhs)
    var previous = Array(0...right.count)
    for (i, leftCharacter) in left.enumerated() {
        var current = [i + 1] + Array(repeating: 0, count: right.count)
        for (j, rightCharacter) in right.enumerated() {
            let substitution = previous[j] + (leftCharacter == rightCharacter ? 0 : 1)
            current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, substitution)
        }
        previous = current
    }
    return previous[right.count]
}
