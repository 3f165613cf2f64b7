--
-- PostgreSQL database dump
--

\restrict uQi4648oekfkDbw2YetDkqap8dg9gkoceDb614aeSWFFIQQMFYLnZBgQ8RajyX0

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    hash text NOT NULL,
    cluster_id text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: blobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blobs (
    key text NOT NULL,
    value text NOT NULL,
    modified bigint NOT NULL
);


--
-- Name: clusters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.clusters (
    id text NOT NULL,
    name text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: delivery_servers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.delivery_servers (
    id text NOT NULL,
    cluster_id text NOT NULL,
    name text NOT NULL,
    url text NOT NULL,
    tracking_domain_id text DEFAULT ''::text NOT NULL,
    is_default boolean DEFAULT false NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: dkim_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dkim_keys (
    domain_id text NOT NULL,
    algorithm text NOT NULL,
    slot integer NOT NULL,
    private_key text NOT NULL,
    txt text NOT NULL,
    published_at bigint NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id text NOT NULL,
    cluster_id text NOT NULL,
    type text NOT NULL,
    at bigint NOT NULL,
    message_id text NOT NULL,
    recipient text NOT NULL,
    url text NOT NULL,
    host text NOT NULL,
    client_ip text NOT NULL,
    user_agent text NOT NULL,
    class text NOT NULL,
    reason text NOT NULL
);


--
-- Name: forwards; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forwards (
    cluster_id text NOT NULL,
    message_id text NOT NULL,
    rcpt text NOT NULL,
    n integer NOT NULL
);


--
-- Name: mail_queue; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mail_queue (
    id text NOT NULL,
    cluster_id text NOT NULL,
    message_id text NOT NULL,
    mail_from text NOT NULL,
    rcpt text NOT NULL,
    server_url text NOT NULL,
    data bytea,
    status text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at bigint NOT NULL,
    last_error text DEFAULT ''::text NOT NULL,
    created_at bigint NOT NULL,
    done_at bigint,
    raw_key text DEFAULT ''::text NOT NULL
);


--
-- Name: messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.messages (
    cluster_id text NOT NULL,
    id text NOT NULL,
    raw bytea NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL
);


--
-- Name: sending_domains; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sending_domains (
    id text NOT NULL,
    cluster_id text NOT NULL,
    name text NOT NULL,
    label text NOT NULL,
    click_host text NOT NULL,
    bounce_host text NOT NULL,
    click_domain_id text NOT NULL,
    algorithms text NOT NULL,
    status text NOT NULL,
    records text NOT NULL,
    rotation text NOT NULL,
    failed_checks integer DEFAULT 0 NOT NULL,
    last_check text,
    next_check_at bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    rotation_at bigint
);


--
-- Name: settings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.settings (
    name text NOT NULL,
    value text NOT NULL
);


--
-- Name: suppressions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.suppressions (
    cluster_id text NOT NULL,
    address text NOT NULL,
    reason text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: token_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.token_keys (
    cluster_id text NOT NULL,
    key_id integer NOT NULL,
    secret text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: tracking_domains; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tracking_domains (
    id text NOT NULL,
    cluster_id text NOT NULL,
    name text NOT NULL,
    target text NOT NULL,
    status text NOT NULL,
    is_default boolean DEFAULT false NOT NULL,
    default_on_active boolean DEFAULT false NOT NULL,
    failed_checks integer DEFAULT 0 NOT NULL,
    last_check text,
    tls_status text DEFAULT 'none'::text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    next_check_at bigint
);


--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    id text NOT NULL,
    webhook_id text NOT NULL,
    event text NOT NULL,
    payload text NOT NULL,
    status text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at bigint NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: webhooks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhooks (
    id text NOT NULL,
    cluster_id text NOT NULL,
    url text NOT NULL,
    events text NOT NULL,
    secret text NOT NULL,
    created_at bigint NOT NULL,
    last_status text DEFAULT ''::text NOT NULL,
    last_code integer DEFAULT 0 NOT NULL,
    last_error text DEFAULT ''::text NOT NULL,
    last_at bigint
);


--
-- Name: zone_serial; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.zone_serial (
    id integer NOT NULL,
    serial bigint NOT NULL
);


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.api_keys (hash, cluster_id, created_at) FROM stdin;
43b1b53fd2346d6032e4eba13e101b2a7ca3ac1c41e31533719ab6dd8778d285	cl_f82c6f1ca3371e85	1796133936541308
d1bcb2d87199bdbdfc70db3472ecb4f28e428830d7f24ffdc23dcb6b8759cd4d	cl_b8b9cbf6ee902a44	1796133936559135
\.


--
-- Data for Name: blobs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.blobs (key, value, modified) FROM stdin;
secret/canary	d21zZWFsMTpDTzNzdUJ0L2J0MzlGMEdBR3NTcnMxV0ovWEpjeGRQZ1p3UUgyd3pOdnh5UFU0MD0=	1796133936424013
\.


--
-- Data for Name: clusters; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.clusters (id, name, created_at) FROM stdin;
cl_f82c6f1ca3371e85	acme	1796133936541308
cl_b8b9cbf6ee902a44	bravo	1796133936559135
\.


--
-- Data for Name: delivery_servers; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.delivery_servers (id, cluster_id, name, url, tracking_domain_id, is_default, created_at) FROM stdin;
\.


--
-- Data for Name: dkim_keys; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.dkim_keys (domain_id, algorithm, slot, private_key, txt, published_at) FROM stdin;
sd_a6a809dfb9bb086f	rsa	0	wmseal1:fC5WvPUp91SSTsZvMAYDRMH+3dnE3EKJBfuX3qjkpjqL+mznNuoUikC1CK2ZPIEC05qbIWWM5kgGsl01cEbKNPMbEl/HQWBqoE6wAxiYHWBlpv9SWLOjpAH8p36VbITXjUCzYlQ5dW8ZqdqJZdrkH04ycSnhVGPk2yDLLxNRKsyJyehjwMsJCGp5BtBoyYl2ix7pu8WYjXBMKj1JPwbLZ3D+jFbcfWVqN8/b+YHnkVuCkxBkJFn4Rf5dHPT+8kV/UkR98nNUCIBSPOIiwFBiqoxuElksugHEGNmmw9H7bYiGpWhWLOdpra+Gqp4rjQ66GhPXDeeXOhQ039iWIy9+D5B6Vd+I7+GPwza6B+yXP5Tt8vTH5trr9r2pTRzd+9F0sGp8cPVFaPaJcHmi5Ua+3ljDUy8Y2wXFsDKNoQrlAF/TSlQGVdicfgshwhFPbBk/+otSOouX2R6vRUYY0Pg3hzCPviGeVWmLTaWyyDfl1XPVqEo7oMS/Q2GUe/jyJAtCDQJ1OdidG9ptT3zLXXC8ZwHuev1I7VDHWMJ/yeCZJWzpL2CugfiVIWlPZ/JwumGhRAf4rh5+JkxBAjqHuGm7GcWouEivH+L74+2UXc2xMT0flul/zrYM56hikbVNaQZHJ61aI+JE1UqPAX3GC/Yc51acqmtPHgydDPwLPdbhGwP7Sp9Y4yFatZdXl/TpO99TEkXW1Y4S5KVTPshdYw3qhGlrO4S9GBpjq6hpnjWqHZ8twvFnT8p6CmZKkO+1V8QU4I9T/nEDoH7wBp3ZZyVeLQyNZIWHaJ7bYhCwMXJulSB2RLB7bVefwZx943vlGYhJn7aA2NgNbxgELp22AIjTaYBjhfnmR+dymHkmNANBL/CCsbfrYdQfC92VmB3KRpHI6ijEGT2Zc9Qycsh1tYB0RXSdH8NvfC4Q0nCZQvR6lkKnyMbEdOVyUF4UVoo4casgClG4kiZbv592EAy7mJWZ0lBhsrHiZk0npWfLIesAzqeLl0rBIHE5OR1gVD+8t42vO1H46PSZYbLDWvvzuSuJXcFk/xNzMegg2pbyLjVlClZEmUF5Hfm0pds+VdRPhx+pYzg+qYi9/sv64UiCt5z2WYMdMJukIz0O5OaqsvWRlK1V7HaBOyrfj+ukGQvtF11y4v87//Mt11PsHqHeEfva6k9VMPr++pir02kGxAXEw/2xwGEjFwkFRaMLtkFxO9kI+j7pDrMNa6+/q97DcP8OI/adGitOYTQce9XOS9/6oQ8nNCh/4P2LQMf2e2VVX2AAD3fCvRQicxTHB1IXgGzJrpHla3WHKnsVIvSuGlhf9xVmNbnlrt9EXHB0I0H/gIPIPzQMoZRfkvRh+QzAK24R2AeuxMDQ/Uv7JACQduyjckGXqRhlQevra0ZZSruu4iWvDjNPKqbRz4LS9Fe2CsQvkgUa+hwkmtEBX5z0HYtaJs6zhDq3e6C3CXwOdlZPae6jp5b7k/cihXSdKM/9gtkIYbCmghir9kYpADGs/xrtY3HkfhGwopIg75B/0D7iDYPW0rTzWkob1Pu2Zlmci2Sl3kpoZstVA7f6crZrRyx6Zz0SH+VqbiwVBWHKLXA2c8soZH84Ehf26Mz5JLgdQcciMKEPta97zbMguIGW8LlwyswPa3+dgXjmc/ByAZyT	v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyxik1slMjd/g1Cqm8ZQ0cRyijtKfff6ypVdBV7RON+Fb1v+bnm3ZP8DvVYzSJtSyGiN7SkX1piUpp3yh1imHtokene7Hg4N7TyjO0ESeN0Y9VKLsARTVPwUC/PP94VgoHTkM+9bDzB3g0vl+IwhdhySoBe06FyRQWoBRqVyRgaKIw+RwxSC6A8qJWZa4aGLmLkCil8fpYNr6tNHHAfZS5lMr4qMo6VavxNNAN7bhlu0g/g/N8xTCbneTcseS9BXKOqojGuyjb0nHn8sl68Hn7JNNu+m2roKXgxR90s3MZDLbJhk536pBp2H0qXCW/BD4Vt6CpzxAdlAxp0RfTKJOeQIDAQAB	1796133936590762
sd_a6a809dfb9bb086f	rsa	1	wmseal1:FNQLzXGM36z+ce1Y343IYi11w6/BZFiwZTeGWiLPV6XOjlhZpw6sTL7jha8mIAVyrmhdkWa/M8bg9mzPcx60I+4Z1Trp+hfhJuEPA2OamuPg6hG9TH7xdvtMCDwFeVINCah8+mDuzcDUky2ni5k11r/lJR8v2Khh4k0eLIKLjpO3YiR5d4u0j4kSZhg+s+kCDRBPtTuk6ucvXfGSoPpB4TwdwcxWgikm/l3oOomipQY/2Ur6N0GVr+65DWiX410KAv8XJKU57P4b8jS/HfqNuMSvVfZYqF3MlICtpP9HpmJ5JFiF1iZE1vWNw0y7hrn/p+PNwG93ggOLhE2Dv6WGIGOKNxjmOQRS3cqcmf1R5a26Ma78MNagMKg+135uS1f5R5ThzzhdNXYRz3oYGX6ueru+Rst6LW9iozEJc8yIHXpdCu+xak7ij5mWwltbx3HeMg1PjlWJvmIaYZHob1949fR2ltc8E/mRadrJioP4h1qeU3xjIdslXR1swcuOGvp/vQaEynLO1OsK5ALzH02I3YoeqtX/8FQKGPs1O5ZTuzuVieQ4CW5wnRKtstsCu33MudkcE+LLP0bFxZTgke/jkUUhYU6t6ReP42LUqZ6obS8Q7W72WMK0KNS8DP7hZ2djC4S23dABAnGsi7MFbKZ1sJwz/NPCuSWerZUK5wJ1xCw/W9kyTQgdigpi777RlAFZQ02Ihhs1RBGgreSsstnh1vp9fBBYmR9QSl46u0O7lCkBK6tg66GsEu/QGtIK/dmhATCNrraAAm+c0xnUyDOwrNExBnVAp6eGzMOD/MK/LeIOIxiSlzdOn6fdZiN13kGHhVK3gP06rKIRcVzerTuXqF8kZazLYfECQf15maQoC2U4g1iyVjNuOLy3taqWZC0EFHeU8a7tkmU/teoWpT560aasyt18Qym9ht42J7o1TEQEZdCuF66GEVvynn3MWL9wbh0gbV8kpuY00Hu/v89CsKc4mrcHOTN1aye5IQ6+uGxNf0XKeuGXUgK5zAMRYOhkmFaFNDgBBFDTZb+mi7F0FYEOsNNUFWgNjEZEC36ovHXOiDD6lo4fpir6KhODcddaixPTmEsKj6gv8a2MHDbmNnyayeK7ZLl2D3GnnFPTU7dnKZNLsvtT1CFwx16V3Zdzt2+AUlnpItgUTImh3Dpc9Gt6r1dtd5IO6rADk8X2BjhlPdWelNYkeixRL8VTF3+Eq3KNJ2fQ60H5jPTAZF9cbUw6qBRwGBEdPjtJkEfH7fFsNuFRG7hA3AzVdKYiBEPEkLXVYhHUr+Te/nrsrpeDdqbNjzst/MKBQt4AZ24otRKJUJ0ick6gvr4MwtmtQHeNPTIAJnsM+7hdZ+ZNGSG6XvdPCheqjfZNL7ZcPhaxIgAyqLtTT7xIsyAxTjdICOD0dqg+9KewInx5kQpwfXNYp9R8wW5UmOPAKcqEX0jy/WLAUkuPfwnXcVnmKP1k7KNKeF3dzYEMHxyOjezbyJl6XmRdqbqo75kXZAC/LSu2Un7OaTQy8LjN4hPfB3mZPJd81cRcSD8p335MQfP0X/07XLaKppdnZ/KjyYgKLyzyIgOl7duF02IXMx2MfSLWVwZR8CpfQXFWeue2IwOzlLno6dWsvAQ5uHO8kJm8d2011FiUgIsY0TZqPXKNTpp+	v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA55fSZzOVKyItFM7GydLzfKrWM7HYuY2jUEBrzcDz5QvCjHXqLXQJF5AQ33tuWEPy+KiwB9alT99tHJzSCOTl/q35RcZKBcS4QtiwVgWO+5h7pVKJxNGYyYPUP+b1LR2EdNB/psvm4eVpjMfU03qU85kya41V0uisOJhRZ3XRuXF7PM+4n+zUPhZR9wLdkVym7AzDtlt8blwPfj7IIprt8q2kc2cL/BSvw6ZGG8j5EHwn3HSEGD8rmUH3ZQdc+QoBAaWuvWTXV/QItIQuCGZ/Vhw96K+VLNDZwoFDKuWAdkSalP9e71nj25+CUBaKcYcS3ZTh0DXnc6pzAmMUdUym6QIDAQAB	1796133936590762
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.events (id, cluster_id, type, at, message_id, recipient, url, host, client_ip, user_agent, class, reason) FROM stdin;
000661930547506c6ae7c01d	cl_f82c6f1ca3371e85	unsubscribe	1796133936910408	msg_8b7b26e9b2b8e2aa	ann@example.org		t.waymark.localhost	127.0.0.1	curl/7.88.1	human	
\.


--
-- Data for Name: forwards; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.forwards (cluster_id, message_id, rcpt, n) FROM stdin;
\.


--
-- Data for Name: mail_queue; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.mail_queue (id, cluster_id, message_id, mail_from, rcpt, server_url, data, status, attempts, next_attempt_at, last_error, created_at, done_at, raw_key) FROM stdin;
\.


--
-- Data for Name: messages; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.messages (cluster_id, id, raw, created_at) FROM stdin;
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.schema_migrations (version) FROM stdin;
1
2
3
4
5
6
7
8
9
10
11
12
\.


--
-- Data for Name: sending_domains; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.sending_domains (id, cluster_id, name, label, click_host, bounce_host, click_domain_id, algorithms, status, records, rotation, failed_checks, last_check, next_check_at, created_at, updated_at, rotation_at) FROM stdin;
sd_a6a809dfb9bb086f	cl_f82c6f1ca3371e85	acme-mail.com	a6a809dfb9bb086f	clicks.acme-mail.com	bounce.acme-mail.com	td_2ec45ef408153788	["rsa"]	pending	{}	{"rsa":{"Signing":0,"NextPublished":true,"PublishedAt":"2026-12-01T14:05:36.590762Z","SwitchAt":"2026-12-31T14:05:36.590762Z","LastSwitch":"0001-01-01T00:00:00Z"}}	0	\N	1796133996590762	1796133936590762	1796133936590762	1798725936590762
\.


--
-- Data for Name: settings; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.settings (name, value) FROM stdin;
admin_key_sha256	b4c12ad4b4a8aa009f3a94be0a585b51c2c33aab80dd98a27c81158312e5e9dc
\.


--
-- Data for Name: suppressions; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.suppressions (cluster_id, address, reason, created_at) FROM stdin;
cl_f82c6f1ca3371e85	ann@example.org	unsubscribe	1796133936909010
cl_f82c6f1ca3371e85	bounced@example.org	bounce	1764000000000000
\.


--
-- Data for Name: token_keys; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.token_keys (cluster_id, key_id, secret, created_at) FROM stdin;
cl_f82c6f1ca3371e85	1	5OdWcG5YfvR66eJh47ql4xnM7cCwu6Ald4wXG5x8GnY=	1796133936892381
\.


--
-- Data for Name: tracking_domains; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.tracking_domains (id, cluster_id, name, target, status, is_default, default_on_active, failed_checks, last_check, tls_status, created_at, updated_at, next_check_at) FROM stdin;
td_67165685d29dcb2b	cl_f82c6f1ca3371e85	track.acme-mail.com	v-5fec6c41934503e2.track.waymark.localhost	pending	f	t	0	\N	none	1796133936574292	1796133936574292	1796133996574292
td_2ec45ef408153788	cl_f82c6f1ca3371e85	clicks.acme-mail.com	v-55ab63c0a0a3f73f.track.waymark.localhost	pending	f	f	0	\N	none	1796133936590762	1796133936590762	1796133996590762
\.


--
-- Data for Name: webhook_deliveries; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.webhook_deliveries (id, webhook_id, event, payload, status, attempts, next_attempt_at, created_at) FROM stdin;
\.


--
-- Data for Name: webhooks; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.webhooks (id, cluster_id, url, events, secret, created_at, last_status, last_code, last_error, last_at) FROM stdin;
wh_785c89c3234bdcbf	cl_f82c6f1ca3371e85	https://hooks.example.com/waymark	["bounce"]	whsec_ed1d39f3f9919f1e9ffe207c213623090e9ad138dac7428c	1796133936864643		0		\N
\.


--
-- Data for Name: zone_serial; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.zone_serial (id, serial) FROM stdin;
1	5
\.


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (hash);


--
-- Name: blobs blobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blobs
    ADD CONSTRAINT blobs_pkey PRIMARY KEY (key);


--
-- Name: clusters clusters_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clusters
    ADD CONSTRAINT clusters_name_key UNIQUE (name);


--
-- Name: clusters clusters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clusters
    ADD CONSTRAINT clusters_pkey PRIMARY KEY (id);


--
-- Name: delivery_servers delivery_servers_new_cluster_id_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.delivery_servers
    ADD CONSTRAINT delivery_servers_new_cluster_id_name_key UNIQUE (cluster_id, name);


--
-- Name: delivery_servers delivery_servers_new_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.delivery_servers
    ADD CONSTRAINT delivery_servers_new_pkey PRIMARY KEY (id);


--
-- Name: dkim_keys dkim_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dkim_keys
    ADD CONSTRAINT dkim_keys_pkey PRIMARY KEY (domain_id, algorithm, slot);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: forwards forwards_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forwards
    ADD CONSTRAINT forwards_pkey PRIMARY KEY (cluster_id, message_id, rcpt);


--
-- Name: mail_queue mail_queue_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mail_queue
    ADD CONSTRAINT mail_queue_pkey PRIMARY KEY (id);


--
-- Name: messages messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (cluster_id, id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: sending_domains sending_domains_cluster_id_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sending_domains
    ADD CONSTRAINT sending_domains_cluster_id_name_key UNIQUE (cluster_id, name);


--
-- Name: sending_domains sending_domains_label_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sending_domains
    ADD CONSTRAINT sending_domains_label_key UNIQUE (label);


--
-- Name: sending_domains sending_domains_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sending_domains
    ADD CONSTRAINT sending_domains_pkey PRIMARY KEY (id);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (name);


--
-- Name: suppressions suppressions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suppressions
    ADD CONSTRAINT suppressions_pkey PRIMARY KEY (cluster_id, address);


--
-- Name: token_keys token_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_keys
    ADD CONSTRAINT token_keys_pkey PRIMARY KEY (cluster_id, key_id);


--
-- Name: tracking_domains tracking_domains_cluster_id_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tracking_domains
    ADD CONSTRAINT tracking_domains_cluster_id_name_key UNIQUE (cluster_id, name);


--
-- Name: tracking_domains tracking_domains_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tracking_domains
    ADD CONSTRAINT tracking_domains_pkey PRIMARY KEY (id);


--
-- Name: tracking_domains tracking_domains_target_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tracking_domains
    ADD CONSTRAINT tracking_domains_target_key UNIQUE (target);


--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);


--
-- Name: webhooks webhooks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_pkey PRIMARY KEY (id);


--
-- Name: zone_serial zone_serial_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.zone_serial
    ADD CONSTRAINT zone_serial_pkey PRIMARY KEY (id);


--
-- Name: events_by_cluster; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_by_cluster ON public.events USING btree (cluster_id, id);


--
-- Name: events_by_message; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_by_message ON public.events USING btree (cluster_id, message_id, id);


--
-- Name: mail_queue_done; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mail_queue_done ON public.mail_queue USING btree (done_at);


--
-- Name: mail_queue_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mail_queue_due ON public.mail_queue USING btree (status, next_attempt_at);


--
-- Name: mail_queue_message; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mail_queue_message ON public.mail_queue USING btree (cluster_id, message_id, rcpt);


--
-- Name: messages_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX messages_created ON public.messages USING btree (created_at);


--
-- Name: sending_domains_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sending_domains_due ON public.sending_domains USING btree (next_check_at);


--
-- Name: sending_domains_rotation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sending_domains_rotation ON public.sending_domains USING btree (rotation_at);


--
-- Name: tracking_domains_by_name; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tracking_domains_by_name ON public.tracking_domains USING btree (name);


--
-- Name: tracking_domains_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tracking_domains_due ON public.tracking_domains USING btree (next_check_at);


--
-- Name: tracking_domains_one_default; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX tracking_domains_one_default ON public.tracking_domains USING btree (cluster_id) WHERE is_default;


--
-- Name: webhook_deliveries_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_due ON public.webhook_deliveries USING btree (status, next_attempt_at);


--
-- Name: webhooks_by_cluster; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhooks_by_cluster ON public.webhooks USING btree (cluster_id);


--
-- Name: api_keys api_keys_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: delivery_servers delivery_servers_new_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.delivery_servers
    ADD CONSTRAINT delivery_servers_new_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: dkim_keys dkim_keys_domain_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dkim_keys
    ADD CONSTRAINT dkim_keys_domain_id_fkey FOREIGN KEY (domain_id) REFERENCES public.sending_domains(id) ON DELETE CASCADE;


--
-- Name: forwards forwards_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forwards
    ADD CONSTRAINT forwards_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: mail_queue mail_queue_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mail_queue
    ADD CONSTRAINT mail_queue_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: messages messages_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: sending_domains sending_domains_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sending_domains
    ADD CONSTRAINT sending_domains_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: suppressions suppressions_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suppressions
    ADD CONSTRAINT suppressions_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: token_keys token_keys_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_keys
    ADD CONSTRAINT token_keys_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: tracking_domains tracking_domains_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tracking_domains
    ADD CONSTRAINT tracking_domains_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- Name: webhook_deliveries webhook_deliveries_webhook_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES public.webhooks(id) ON DELETE CASCADE;


--
-- Name: webhooks webhooks_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict uQi4648oekfkDbw2YetDkqap8dg9gkoceDb614aeSWFFIQQMFYLnZBgQ8RajyX0

