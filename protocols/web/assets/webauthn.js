// Gatehouse: the WebAuthn part of the sign-in pages and the portal (the only script they need).
//
// A container marked data-webauthn-container holds a form marked data-webauthn="get" or "create"
// with data-options, the URL that hands out the challenge. On submit: fetch the options (JSON,
// with the form's CSRF token in X-CSRF-Token), run navigator.credentials.get/create, put the
// challenge id and the credential (as the JSON of WebAuthn L3 §5.1.8-9) into the form's hidden
// fields and submit it as an ordinary form: the server answers with a 303 like every other form.
// Written here rather than taken from a library: it is this small, and it is served as is.
'use strict';
(() => {
  const toBytes = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  };
  const toText = (buffer) => {
    let binary = '';
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  const creationOptions = (o) => ({ ...o, challenge: toBytes(o.challenge), user: { ...o.user, id: toBytes(o.user.id) }, excludeCredentials: withIds(o.excludeCredentials) });
  const requestOptions = (o) => ({ ...o, challenge: toBytes(o.challenge), allowCredentials: withIds(o.allowCredentials) });

  const registrationJson = (credential) => ({
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      attestationObject: toText(credential.response.attestationObject),
      transports: typeof credential.response.getTransports === 'function' ? credential.response.getTransports() : [],
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  });
  const assertionJson = (credential) => ({
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      authenticatorData: toText(credential.response.authenticatorData),
      signature: toText(credential.response.signature),
      ...(credential.response.userHandle ? { userHandle: toText(credential.response.userHandle) } : {}),
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  });

  const explain = (error) => {
    if (error && error.name === 'NotAllowedError') return 'Cancelled, timed out, or no matching key. Try again.';
    if (error && error.name === 'InvalidStateError') return 'This authenticator is registered already.';
    return (error && error.message) || 'Something went wrong. Reload the page and try again.';
  };

  if (!window.PublicKeyCredential || !navigator.credentials) return;
  for (const container of document.querySelectorAll('[data-webauthn-container]')) {
    const form = container.querySelector('form[data-webauthn]');
    const message = container.querySelector('[data-webauthn-error]');
    if (!form) continue;
    container.hidden = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      message.hidden = true;
      try {
        const answer = await fetch(form.dataset.options, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json', 'x-csrf-token': form.elements.namedItem('csrf').value },
          body: '{}',
        });
        const data = await answer.json().catch(() => undefined);
        if (data && data.location) {
          window.location.assign(data.location);
          return;
        }
        if (!answer.ok || !data || !data.options) throw new Error((data && data.message) || 'Reload the page and try again.');
        const create = form.dataset.webauthn === 'create';
        const credential = create
          ? await navigator.credentials.create({ publicKey: creationOptions(data.options) })
          : await navigator.credentials.get({ publicKey: requestOptions(data.options) });
        if (!credential) throw new Error('No credential was returned.');
        form.elements.namedItem('challengeId').value = data.challengeId;
        form.elements.namedItem('response').value = JSON.stringify(create ? registrationJson(credential) : assertionJson(credential));
        form.submit();
      } catch (error) {
        message.textContent = explain(error);
        message.hidden = false;
        button.disabled = false;
      }
    });
  }
})();
