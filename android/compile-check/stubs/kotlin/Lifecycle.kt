// COMPILE-ONLY STUB of androidx.lifecycle:lifecycle-viewmodel 2.8, Android-only part (see Stub.kt).
// ViewModel, viewModelScope, LifecycleOwner and the Compose helpers are the real desktop jars.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.lifecycle

import android.app.Application
import app.nyckel.compilestub.stub

open class AndroidViewModel(application: Application) : ViewModel() {
    open fun <T : Application> getApplication(): T = stub()
}
