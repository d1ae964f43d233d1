package app.nyckel.android

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import app.nyckel.ffi.NyckelException
import app.nyckel.ffi.PlatformRsaKeyStore
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature

/**
 * privacyIDEA push keys in Android Keystore: non-exportable RSA 3072 signing keys (PKCS#1 v1.5
 * with SHA-256, what privacyIDEA verifies), one per token, under the core's alias. Not in
 * StrongBox: StrongBox holds RSA 2048 at most, below the 3072 bits the core asks for.
 */
class AndroidRsaKeyStore : PlatformRsaKeyStore {
    private val keyStore: KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    override fun createRsaKey(alias: String): ByteArray = guarded {
        // The core draws a fresh alias per token: an existing entry means a mix-up, and
        // generating over it would silently replace another token's key.
        check(!keyStore.containsAlias(alias)) { "a key already exists under $alias" }
        val pair = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_RSA, PROVIDER).run {
            initialize(
                KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
                    .setKeySize(RSA_BITS)
                    .setDigests(KeyProperties.DIGEST_SHA256)
                    .setSignaturePaddings(KeyProperties.SIGNATURE_PADDING_RSA_PKCS1)
                    .build(),
            )
            generateKeyPair()
        }
        // DER SubjectPublicKeyInfo, as the core expects.
        pair.public.encoded
    }

    override fun signRsaSha256(alias: String, message: ByteArray): ByteArray = guarded {
        val key = keyStore.getKey(alias, null) as? PrivateKey ?: throw IllegalStateException("no push key under $alias")
        Signature.getInstance(SIGNATURE).run {
            initSign(key)
            update(message)
            sign()
        }
    }

    override fun deleteRsaKey(alias: String) = guarded {
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (error: NyckelException) {
        throw error
    } catch (error: Exception) {
        // Keystore failures become a typed platform error in Rust instead of an unexpected one.
        throw NyckelException.Platform("Android Keystore (RSA): ${error.message ?: error.javaClass.simpleName}")
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val SIGNATURE = "SHA256withRSA"
        const val RSA_BITS = 3072
    }
}
