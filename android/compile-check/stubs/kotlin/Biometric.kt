// COMPILE-ONLY STUB of androidx.biometric:biometric 1.1.0 and androidx.fragment's FragmentActivity
// (see Stub.kt): exactly what AndroidBiometricKey uses, with the libraries' public signatures.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.biometric

import android.content.Context
import androidx.fragment.app.FragmentActivity
import app.nyckel.compilestub.stub
import java.util.concurrent.Executor
import javax.crypto.Cipher

class BiometricManager private constructor() {
    fun canAuthenticate(authenticators: Int): Int = stub()

    // A Java interface of constants in the library; an object gives Kotlin callers the same syntax.
    object Authenticators {
        const val BIOMETRIC_STRONG: Int = 0x000F
        const val BIOMETRIC_WEAK: Int = 0x00FF
        const val DEVICE_CREDENTIAL: Int = 1 shl 15
    }

    companion object {
        const val BIOMETRIC_SUCCESS: Int = 0

        @JvmStatic
        fun from(context: Context): BiometricManager = stub()
    }
}

class BiometricPrompt(activity: FragmentActivity, executor: Executor, callback: AuthenticationCallback) {
    fun authenticate(info: PromptInfo, crypto: CryptoObject): Unit = stub()

    fun cancelAuthentication(): Unit = stub()

    class CryptoObject(cipher: Cipher) {
        val cipher: Cipher? get() = stub()
    }

    class AuthenticationResult internal constructor() {
        val cryptoObject: CryptoObject? get() = stub()
        val authenticationType: Int get() = stub()
    }

    abstract class AuthenticationCallback {
        open fun onAuthenticationError(errorCode: Int, errString: CharSequence) {}
        open fun onAuthenticationSucceeded(result: AuthenticationResult) {}
        open fun onAuthenticationFailed() {}
    }

    class PromptInfo internal constructor() {
        class Builder {
            fun setTitle(title: CharSequence): Builder = stub()
            fun setSubtitle(subtitle: CharSequence?): Builder = stub()
            fun setDescription(description: CharSequence?): Builder = stub()
            fun setNegativeButtonText(negativeButtonText: CharSequence): Builder = stub()
            fun setConfirmationRequired(confirmationRequired: Boolean): Builder = stub()
            fun setAllowedAuthenticators(allowedAuthenticators: Int): Builder = stub()
            fun build(): PromptInfo = stub()
        }
    }

    companion object {
        const val ERROR_HW_UNAVAILABLE: Int = 1
        const val ERROR_UNABLE_TO_PROCESS: Int = 2
        const val ERROR_TIMEOUT: Int = 3
        const val ERROR_NO_SPACE: Int = 4
        const val ERROR_CANCELED: Int = 5
        const val ERROR_LOCKOUT: Int = 7
        const val ERROR_VENDOR: Int = 8
        const val ERROR_LOCKOUT_PERMANENT: Int = 9
        const val ERROR_USER_CANCELED: Int = 10
        const val ERROR_NO_BIOMETRICS: Int = 11
        const val ERROR_HW_NOT_PRESENT: Int = 12
        const val ERROR_NEGATIVE_BUTTON: Int = 13
        const val ERROR_NO_DEVICE_CREDENTIAL: Int = 14
        const val ERROR_SECURITY_UPDATE_REQUIRED: Int = 15
    }
}
