"""MSP partners: reach customers through Partner Center (customer list, application consent) and
granular delegated admin privileges (GDAP), with the partner's own multi-tenant sign-in app.

Why: a partner admin's refresh token cannot consent in a customer tenant (Entra answers AADSTS65001
to every silent request there until the sign-in client is consented in that customer; graph-facts
§12). Partner Center's application-consent API consents the partner's *own* multi-tenant app in a
customer, on the strength of the partner user's GDAP role there, without a customer admin.
https://learn.microsoft.com/en-us/partner-center/developer/control-panel-vendor-apis
"""
