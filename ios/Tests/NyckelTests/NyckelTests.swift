import CryptoKit
import XCTest
import NyckelFFI
@testable import Nyckel

/// A clock the tests set by hand.
final class FixedClock: PlatformClock, @unchecked Sendable {
    private let lock = NSLock()
    private var seconds: UInt64

    init(_ seconds: UInt64) { self.seconds = seconds }

    var now: UInt64 {
        get { lock.withLock { seconds } }
        set { lock.withLock { seconds = newValue } }
    }

    func nowUnixSeconds() -> UInt64 { now }
}

/// A key store in memory: random vault keys, and CryptoKit P-256 device keys with the same
/// encodings the Secure Enclave gives (X9.63 public keys, DER signatures).
final class CryptoKitKeyStore: PlatformKeyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var vaultKeys: [String: Data] = [:]
    private var deviceKeys: [String: P256.Signing.PrivateKey] = [:]
    private var created = 0
    private var signed = 0

    /// Device keys created and signatures made so far, and keys still held.
    var counts: (created: Int, signed: Int, held: Int) {
        lock.withLock { (created, signed, deviceKeys.count) }
    }

    func createVaultKey() throws -> StoredVaultKey {
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let reference = UUID().uuidString
        lock.withLock { vaultKeys[reference] = key }
        return StoredVaultKey(reference: reference, key: key)
    }

    func vaultKey(reference: String) throws -> Data {
        guard let key = lock.withLock({ vaultKeys[reference] }) else {
            throw NyckelError.Platform(reason: "no vault key \(reference)")
        }
        return key
    }

    func createDeviceKey(alias: String) throws -> Data {
        try lock.withLock {
            guard deviceKeys[alias] == nil else { throw NyckelError.Platform(reason: "key \(alias) exists") }
            let key = P256.Signing.PrivateKey()
            deviceKeys[alias] = key
            created += 1
            return key.publicKey.x963Representation
        }
    }

    func devicePublicKey(alias: String) throws -> Data {
        try key(alias).publicKey.x963Representation
    }

    func signWithDeviceKey(alias: String, message: Data) throws -> Data {
        let signature = try key(alias).signature(for: message).derRepresentation
        lock.withLock { signed += 1 }
        return signature
    }

    func deleteDeviceKey(alias: String) throws {
        lock.withLock { deviceKeys[alias] = nil }
    }

    private func key(_ alias: String) throws -> P256.Signing.PrivateKey {
        guard let key = lock.withLock({ deviceKeys[alias] }) else {
            throw NyckelError.Platform(reason: "no device key \(alias)")
        }
        return key
    }
}

/// A listener for subscriptions that are expected to deliver nothing.
final class SilentListener: ApprovalListener {
    func onApprovalRequest(request: ApprovalRequest) {}
    func onPollingError(registrationId: String?, reason: String) {}
}

final class NyckelTests: XCTestCase {
    /// The login code of docs/PROTOCOL.md's known answers: valid, but for a server this phone never met.
    private let loginCode =
        "nyckel://login?v=1&r=3rDjjO0eQd4&c=AAAAAAAAAAAAAAAAAAAAAA&n=IiIiIiIiIiIiIiIiIiIiIg&s=Trade%20portal&a=Sign%20in"

    private func temporaryVault() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
    }

    private func open(_ keyStore: PlatformKeyStore = CryptoKitKeyStore(), clock: PlatformClock = FixedClock(0)) throws -> Nyckel {
        try Nyckel.open(directory: temporaryVault(), keyStore: keyStore, clock: clock, platform: "XCTest")
    }

    func testTotpFollowsRfc6238() throws {
        let clock = FixedClock(59)
        let core = try open(clock: clock)
        _ = try core.addAccount(uri: "otpauth://totp/RFC:sha1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8")
        XCTAssertEqual(try core.currentCodes().map(\.code), ["94287082"])
        clock.now = 1_111_111_109
        XCTAssertEqual(try core.currentCodes().map(\.code), ["07081804"])
    }

    func testMalformedUriThrowsTypedError() throws {
        let core = try open()
        XCTAssertThrowsError(try core.addAccount(uri: "otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP&digits=12")) { error in
            guard case NyckelError.InvalidInput = error else { return XCTFail("unexpected \(error)") }
        }
        XCTAssertEqual(try core.accounts().count, 0)
    }

    func testUnregisteredPhoneRefusesLoginCodesAndUnknownRequests() async throws {
        let core = try open()
        _ = try core.addAccount(uri: "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP")
        XCTAssertEqual(try core.accounts().count, 1)
        XCTAssertEqual(try core.registrations(), [])
        XCTAssertEqual(try core.pendingApprovals(), [])

        XCTAssertThrowsError(try core.readQrOtp(payload: loginCode)) { error in
            guard case NyckelError.NotFound = error else { return XCTFail("unexpected \(error)") }
        }
        XCTAssertThrowsError(try core.qrOtp(payload: loginCode, registrationId: nil, pin: "2468")) { error in
            guard case NyckelError.NotFound = error else { return XCTFail("unexpected \(error)") }
        }
        do {
            _ = try await core.deny(registrationId: "nowhere", challengeIdText: "AAAAAAAAAAAAAAAAAAAAAA")
            XCTFail("denied a request that was never received")
        } catch NyckelError.RequestClosed {
            // Expected: nothing is pending on this phone.
        }
    }

    func testFailedRegistrationLeavesNoDeviceKey() async throws {
        let keys = CryptoKitKeyStore()
        let core = try open(keys)
        do {
            _ = try await core.register(payload: "nyckel://enroll?v=1&u=https%3A%2F%2Fid.example.org", pin: "2468")
            XCTFail("registered from an incomplete code")
        } catch NyckelError.InvalidInput {
            XCTAssertEqual(keys.counts.created, 0, "a malformed code is refused before any key is made")
        }

        // A well-formed code for a server that is not there (nothing listens on the discard port).
        let unreachable = "nyckel://enroll?v=1&u=http%3A%2F%2F127.0.0.1%3A9&i=enr-1"
            + "&t=CQkJCQkJCQkJCQkJCQkJCQ&k=AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM"
        do {
            _ = try await core.register(payload: unreachable, pin: "2468")
            XCTFail("registered with no server")
        } catch NyckelError.Network {
            let counts = keys.counts
            XCTAssertEqual(counts.created, 1)
            XCTAssertGreaterThan(counts.signed, 0, "the enrollment request is signed with the device key")
            XCTAssertEqual(counts.held, 0, "the abandoned registration's device key is deleted")
        }
        XCTAssertEqual(try core.registrations(), [])
    }

    func testSubscriptionRunsUntilStopped() async throws {
        let core = try open()
        let subscription = try core.subscribeApprovals(listener: SilentListener())
        XCTAssertTrue(subscription.isActive())
        await subscription.stop()
        XCTAssertFalse(subscription.isActive())
    }

    @MainActor
    func testApprovalsModelStartsEmptyAndStops() throws {
        let model = ApprovalsModel(core: try open())
        model.start()
        XCTAssertEqual(model.requests, [])
        XCTAssertNil(model.pollingError)
        model.stop()
    }
}

/// The Keychain exports an RSA public key as PKCS#1; the core wants DER SubjectPublicKeyInfo.
final class RsaSpkiTests: XCTestCase {
    func testDerLengthShortAndLongForm() {
        XCTAssertEqual(KeychainRsaKeyStore.derLength(0x7f), [0x7f])
        XCTAssertEqual(KeychainRsaKeyStore.derLength(0x80), [0x81, 0x80])
        XCTAssertEqual(KeychainRsaKeyStore.derLength(0x1a2), [0x82, 0x01, 0xa2])
    }

    func testRsa3072PublicKeyIsWrappedAsOpenSslWritesIt() {
        // A 3072-bit RSAPublicKey is 398 bytes of DER; OpenSSL's SPKI of it is 422 bytes with this header.
        let pkcs1 = Data([0x30, 0x82, 0x01, 0x8a] + [UInt8](repeating: 0x5a, count: 394))
        let spki = KeychainRsaKeyStore.subjectPublicKeyInfo(rsaPublicKey: pkcs1)
        let header: [UInt8] = [
            0x30, 0x82, 0x01, 0xa2, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            0x05, 0x00, 0x03, 0x82, 0x01, 0x8f, 0x00,
        ]
        XCTAssertEqual(spki.count, 422)
        XCTAssertEqual([UInt8](spki.prefix(header.count)), header)
        XCTAssertEqual(spki.suffix(pkcs1.count), pkcs1)
    }
}
