import CYAML

/// One YAML document, loaded by libyaml and copied into a Swift tree of ``YAMLNode`` values.
///
/// This is a thin layer over `yaml_parser_load`: libyaml does all the parsing (and resolves
/// aliases to the node they name); this type only copies the result out of C memory, keeping
/// each node's 1-based line so that later checks can point at the text a person wrote.
///
/// ```swift
/// let document = try YAMLDocument.load(bytes: Array("port: 1883\n".utf8))
/// // document?.root is a mapping with one pair; its value is the plain scalar "1883" on line 1.
/// ```
struct YAMLDocument {
    /// The largest nesting depth copied out of libyaml.
    ///
    /// Copying is recursive, so this bounds the stack; a config file needs fewer than ten levels.
    static let maximumDepth = 64

    /// The root node of the document.
    var root: YAMLNode

    /// Loads the single document in `bytes`.
    ///
    /// libyaml detects the encoding (UTF-8, or UTF-16 with a byte-order mark).
    ///
    /// - Parameter bytes: The YAML text.
    /// - Returns: The document, or `nil` when the stream holds no document at all (it is empty,
    ///   or holds only comments and blank lines).
    /// - Throws: ``YAMLError`` for a syntax error (with libyaml's problem text and line), for a
    ///   stream with more than one document, and for nesting deeper than ``maximumDepth``.
    static func load(bytes: [UInt8]) throws(YAMLError) -> YAMLDocument? {
        // No bytes, no document (and no base address to hand to libyaml).
        guard !bytes.isEmpty else { return nil }
        // libyaml updates these structs in place across several calls; keep them at fixed heap
        // addresses rather than in Swift locals, whose address is only promised for one call.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        let document = UnsafeMutablePointer<yaml_document_t>.allocate(capacity: 1)
        defer {
            parser.deallocate()
            document.deallocate()
        }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLError(kind: .syntax, message: "libyaml could not allocate a parser", line: nil)
        }
        defer { yaml_parser_delete(parser) }

        return try bytes.withUnsafeBufferPointer { (buffer) throws(YAMLError) -> YAMLDocument? in
            guard let base = buffer.baseAddress else { return nil }
            yaml_parser_set_input_string(parser, base, buffer.count)

            guard yaml_parser_load(parser, document) == 1 else {
                // On failure libyaml has already released the partial document.
                throw YAMLError(parser: parser.pointee, bytes: buffer)
            }
            defer { yaml_document_delete(document) }
            guard let rootNode = yaml_document_get_root_node(document) else { return nil }

            var copier = NodeCopier(document: document)
            let root = try copier.copy(rootNode, index: 1, depth: 0)

            // A second load returns an empty document at the end of the stream; anything else is
            // a second document (or a syntax error in one), which a config file must not have.
            let next = UnsafeMutablePointer<yaml_document_t>.allocate(capacity: 1)
            defer { next.deallocate() }
            guard yaml_parser_load(parser, next) == 1 else {
                throw YAMLError(parser: parser.pointee, bytes: buffer)
            }
            defer { yaml_document_delete(next) }
            if yaml_document_get_root_node(next) != nil {
                throw YAMLError(
                    kind: .multipleDocuments,
                    message: "the file holds more than one YAML document; use a single document",
                    line: Int(next.pointee.start_mark.line) + 1
                )
            }
            return YAMLDocument(root: root)
        }
    }
}

/// A YAML-level failure: a syntax error reported by libyaml, or a document this layer refuses.
struct YAMLError: Error, Sendable, Equatable {
    /// The kind of failure.
    enum Kind: Sendable, Equatable {
        /// libyaml rejected the text (or ran out of memory).
        case syntax
        /// The stream holds a second document.
        case multipleDocuments
        /// The document is valid YAML that this layer will not copy: too deep, or cyclic.
        case unsupported
    }

    /// The kind of failure.
    var kind: Kind
    /// What went wrong, in libyaml's words where libyaml found it.
    var message: String
    /// The 1-based line of the problem, when known.
    var line: Int?
}

extension YAMLError {
    /// Builds the error from a parser whose last call failed.
    fileprivate init(parser: yaml_parser_t, bytes: UnsafeBufferPointer<UInt8>) {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
        switch parser.error {
        case YAML_READER_ERROR:
            // The reader (encoding checks) sets an offset rather than a mark; count the lines.
            let offset = min(parser.problem_offset, bytes.count)
            let line = bytes[..<offset].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            self.init(kind: .syntax, message: "invalid YAML: \(problem)", line: line)
        case YAML_MEMORY_ERROR:
            self.init(kind: .syntax, message: "libyaml ran out of memory", line: nil)
        default:
            var message = "invalid YAML: \(problem)"
            if let context = parser.context {
                message += " (\(String(cString: context)) at line \(parser.context_mark.line + 1))"
            }
            self.init(kind: .syntax, message: message, line: Int(parser.problem_mark.line) + 1)
        }
    }
}

/// A node of a ``YAMLDocument``: a scalar, a sequence or a mapping, with its position.
struct YAMLNode: Sendable {
    /// The node's content.
    enum Content: Sendable {
        /// A scalar.
        case scalar(YAMLScalar)
        /// A sequence, with its items in order.
        case sequence([YAMLNode])
        /// A mapping, with its pairs in document order (duplicate keys are kept).
        case mapping([Pair])
    }

    /// One key-value pair of a mapping.
    struct Pair: Sendable {
        /// The key node.
        var key: YAMLNode
        /// The value node.
        var value: YAMLNode
    }

    /// The node's content.
    var content: Content
    /// The node's tag, resolved by libyaml (`tag:yaml.org,2002:str` and so on).
    ///
    /// An untagged node gets libyaml's default tag for its kind, so an explicit `!!str` on a plain
    /// scalar cannot be told apart from no tag at all.
    var tag: String
    /// The 1-based line where the node starts (for an alias: where its anchor's node starts).
    var line: Int
    /// The 1-based column where the node starts.
    var column: Int
}

/// A scalar node's text and presentation, and its value under the YAML 1.2 core schema.
struct YAMLScalar: Sendable, Equatable {
    /// How the scalar was written.
    enum Style: Sendable, Equatable {
        /// Unquoted: resolved by the core schema (`1883` is an integer, `true` a boolean).
        case plain
        /// `'single quoted'`: always a string.
        case singleQuoted
        /// `"double quoted"`: always a string.
        case doubleQuoted
        /// A `|` block: always a string.
        case literal
        /// A `>` block: always a string.
        case folded
    }

    /// A scalar's typed value.
    enum Value: Sendable, Equatable {
        /// `null`, `~` or nothing.
        case null
        /// `true` or `false`.
        case bool(Bool)
        /// A decimal, `0o` octal or `0x` hexadecimal integer.
        case int(Int)
        /// A decimal float, `.inf` or `.nan`.
        case float(Double)
        /// Anything else, and every quoted or block scalar.
        case string(String)
        /// A scalar whose explicit tag does not fit its text, an integer too large for `Int`, or an
        /// unsupported tag; the associated text says which.
        case invalid(String)
    }

    /// The scalar's text after YAML's escapes and folding.
    var text: String
    /// How the scalar was written.
    var style: Style
    /// The node's resolved tag.
    var tag: String

    /// The scalar's value: a plain scalar under the YAML 1.2 core schema, any other style as a
    /// string, an explicit standard tag (`!!int`, `!!float`, `!!bool`, `!!null`) as that type.
    var value: Value {
        switch tag {
        case YAMLScalar.stringTag:
            return style == .plain ? YAMLScalar.resolvePlain(text) : .string(text)
        case YAMLScalar.intTag:
            if case .int(let value) = YAMLScalar.resolvePlain(text) { return .int(value) }
            return .invalid("`\(text)` is not an integer, as its !!int tag requires")
        case YAMLScalar.floatTag:
            switch YAMLScalar.resolvePlain(text) {
            case .int(let value): return .float(Double(value))
            case .float(let value): return .float(value)
            default: return .invalid("`\(text)` is not a float, as its !!float tag requires")
            }
        case YAMLScalar.boolTag:
            if case .bool(let value) = YAMLScalar.resolvePlain(text) { return .bool(value) }
            return .invalid("`\(text)` is not true or false, as its !!bool tag requires")
        case YAMLScalar.nullTag:
            if case .null = YAMLScalar.resolvePlain(text) { return .null }
            return .invalid("`\(text)` is not null, as its !!null tag requires")
        default:
            return .invalid("the tag \(tag) is not supported")
        }
    }

    static let stringTag = "tag:yaml.org,2002:str"
    static let intTag = "tag:yaml.org,2002:int"
    static let floatTag = "tag:yaml.org,2002:float"
    static let boolTag = "tag:yaml.org,2002:bool"
    static let nullTag = "tag:yaml.org,2002:null"

    /// Resolves a plain scalar with the YAML 1.2 core schema's tag resolution rules.
    static func resolvePlain(_ text: String) -> Value {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        let bytes = Array(text.utf8)
        if let radixInt = resolveRadixInt(bytes) { return radixInt }
        if isDecimalInt(bytes) {
            // `Int("+5")` and `Int("007")` both parse, as the core schema wants.
            if let value = Int(text) { return .int(value) }
            return .invalid("the integer \(text) is too large")
        }
        if isDecimalFloat(bytes), let value = Double(text) { return .float(value) }
        return .string(text)
    }

    /// `0o[0-7]+` or `0x[0-9a-fA-F]+`.
    private static func resolveRadixInt(_ bytes: [UInt8]) -> Value? {
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "0") else { return nil }
        let radix: Int
        switch bytes[1] {
        case UInt8(ascii: "o"): radix = 8
        case UInt8(ascii: "x"): radix = 16
        default: return nil
        }
        let digits = String(decoding: bytes[2...], as: UTF8.self)
        guard digits.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }) else { return nil }
        guard let value = Int(digits, radix: radix) else {
            // All valid digits but no value: it overflowed.
            let valid = digits.allSatisfy { $0.hexDigitValue.map { $0 < radix } ?? false }
            return valid ? .invalid("the integer \(String(decoding: bytes, as: UTF8.self)) is too large") : nil
        }
        return .int(value)
    }

    /// `[-+]?[0-9]+`.
    private static func isDecimalInt(_ bytes: [UInt8]) -> Bool {
        var digits = bytes[...]
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            digits = digits.dropFirst()
        }
        return !digits.isEmpty && digits.allSatisfy(isDigit)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
    private static func isDecimalFloat(_ bytes: [UInt8]) -> Bool {
        var index = 0
        func skipDigits() -> Int {
            let start = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            return index - start
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
        let integerDigits = skipDigits()
        var fractionDigits = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionDigits = skipDigits()
        } else if integerDigits == 0 {
            return false
        }
        guard integerDigits > 0 || fractionDigits > 0 else { return false }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                index += 1
            }
            guard skipDigits() > 0 else { return false }
        }
        return index == bytes.count
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// Copies libyaml's node graph into ``YAMLNode`` values.
///
/// libyaml resolves an alias to the index of its anchored node, so one node can be reached from
/// many places. Copies are memoised by index, which keeps the work linear in the number of
/// distinct nodes (no "billion laughs" blow-up), and a node reached again while it is still being
/// copied is a cycle, which a tree cannot hold.
private struct NodeCopier {
    let document: UnsafeMutablePointer<yaml_document_t>
    var copied: [Int32: YAMLNode] = [:]
    var inProgress: Set<Int32> = []

    mutating func copy(_ node: UnsafeMutablePointer<yaml_node_t>, index: Int32, depth: Int) throws(YAMLError)
        -> YAMLNode
    {
        if let done = copied[index] { return done }
        let line = Int(node.pointee.start_mark.line) + 1
        let column = Int(node.pointee.start_mark.column) + 1
        guard depth < YAMLDocument.maximumDepth else {
            throw YAMLError(
                kind: .unsupported,
                message: "the document is nested more than \(YAMLDocument.maximumDepth) levels deep",
                line: line
            )
        }
        guard inProgress.insert(index).inserted else {
            throw YAMLError(kind: .unsupported, message: "an alias refers to a node that contains it", line: line)
        }
        defer { inProgress.remove(index) }

        let tag = node.pointee.tag.map { String(cString: $0) } ?? ""
        let content: YAMLNode.Content
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let scalar = node.pointee.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            content = .scalar(YAMLScalar(text: text, style: Self.style(scalar.style), tag: tag))
        case YAML_SEQUENCE_NODE:
            var items: [YAMLNode] = []
            var item = node.pointee.data.sequence.items.start
            while let current = item, current != node.pointee.data.sequence.items.top {
                items.append(try copyChild(current.pointee, depth: depth))
                item = current + 1
            }
            content = .sequence(items)
        case YAML_MAPPING_NODE:
            var pairs: [YAMLNode.Pair] = []
            var pair = node.pointee.data.mapping.pairs.start
            while let current = pair, current != node.pointee.data.mapping.pairs.top {
                let key = try copyChild(current.pointee.key, depth: depth)
                let value = try copyChild(current.pointee.value, depth: depth)
                pairs.append(YAMLNode.Pair(key: key, value: value))
                pair = current + 1
            }
            content = .mapping(pairs)
        default:
            throw YAMLError(kind: .unsupported, message: "libyaml returned an empty node", line: line)
        }
        let result = YAMLNode(content: content, tag: tag, line: line, column: column)
        copied[index] = result
        return result
    }

    private mutating func copyChild(_ index: Int32, depth: Int) throws(YAMLError) -> YAMLNode {
        guard let child = yaml_document_get_node(document, index) else {
            throw YAMLError(kind: .unsupported, message: "libyaml returned a dangling node reference", line: nil)
        }
        return try copy(child, index: index, depth: depth + 1)
    }

    private static func style(_ style: yaml_scalar_style_t) -> YAMLScalar.Style {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }
}
