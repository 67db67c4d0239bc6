private import COpenSSL

/// HMAC-SHA256 through OpenSSL's libcrypto (never hand-written crypto).
package enum HMACSHA256 {
    /// The 32-byte MAC of `message` under `key`.
    package static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = key.withUnsafeBufferPointer { keyBytes in
            message.withUnsafeBufferPointer { messageBytes in
                output.withUnsafeMutableBufferPointer { out in
                    // An empty array's base address may be nil; libcrypto wants a valid pointer even for length 0.
                    var empty: UInt8 = 0
                    return withUnsafeMutablePointer(to: &empty) { fallback in
                        HMAC(
                            EVP_sha256(),
                            keyBytes.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(fallback),
                            Int32(keyBytes.count),
                            messageBytes.baseAddress ?? UnsafePointer(fallback),
                            messageBytes.count,
                            out.baseAddress,
                            &length
                        ) != nil
                    }
                }
            }
        }
        precondition(ok && length == 32, "libcrypto's HMAC-SHA256 failed")
        return Array(output.prefix(Int(length)))
    }
}
